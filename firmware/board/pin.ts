// The LED's pin. Active-low LEDs (the ESP8266's on-board one) light when the pin is 0.

export function createLedOutput(pin: PinLike, activeLow: boolean): (on: boolean) => void {
  pinMode(pin, "output");
  return function (on: boolean) {
    digitalWrite(pin, on != activeLow ? 1 : 0);
  };
}

/** A dimmable LED: PWM (analogWrite) with a duty cycle of level/255 when on, inverted when active-low. */
export function createPwmOutput(pin: PinLike, activeLow: boolean): (on: boolean, level?: number) => void {
  return function (on: boolean, level?: number) {
    const duty = on ? (level as number) / 255 : 0;
    analogWrite(pin, activeLow ? 1 - duty : duty);
  };
}
