// The LED's pin. Active-low LEDs (the ESP8266's on-board one) light when the pin is 0.

export function createLedOutput(pin: PinLike, activeLow: boolean): (on: boolean) => void {
  pinMode(pin, "output");
  return function (on: boolean) {
    digitalWrite(pin, on != activeLow ? 1 : 0);
  };
}
