// The configured LED pin (CONFIG.ledPin). Active-low LEDs (the ESP8266's on-board one) light when the pin is 0.
// Each is the LED app's `setLed` itself, not made by a function: each function object costs the board RAM.

/** Espruino makes the pin an output on the first write (the tiny firmware relies on that too). */
export function setLed(on: boolean) {
  digitalWrite(CONFIG.ledPin, on != CONFIG.ledActiveLow ? 1 : 0);
}

/** A dimmable LED: PWM (analogWrite) with a duty cycle of level/255 when on, inverted when active-low. */
export function setPwmLed(on: boolean, level?: number) {
  const duty = on ? (level as number) / 255 : 0;
  analogWrite(CONFIG.ledPin, CONFIG.ledActiveLow ? 1 - duty : duty);
}
