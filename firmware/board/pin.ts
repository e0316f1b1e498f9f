// The configured LED pin (CONFIG.ledPin). Active-low LEDs (the ESP8266's on-board one) light when the pin is 0.
// Each is the LED app's `setLed` itself, not made by a function: each function object costs the board RAM.
// Each writes CONFIG.ledActiveLow's two cases out in full, so that the build keeps only the configured one.

/** Espruino makes the pin an output on the first write (the tiny firmware relies on that too), and takes a boolean
 * as 1 or 0. */
export const setLed = (on: boolean) => digitalWrite(CONFIG.ledPin, CONFIG.ledActiveLow ? !on : on);

/** A dimmable LED: PWM (analogWrite) with a duty cycle of level/255 when on, inverted when active-low. */
export const setPwmLed = (on: boolean, level?: number) =>
  analogWrite(CONFIG.ledPin, CONFIG.ledActiveLow ? 1 - (on ? (level as number) / 255 : 0) : on ? (level as number) / 255 : 0);
