// Start at power-up. Code saved to flash as boot code runs at every boot; code saved with save() does not run
// again but gets E's 'init' event. Running on load and on 'init', guarded, covers both; 'kill' (before save(),
// reset() or load()) stops us so that a saved image restarts cleanly from 'init'.

export function runAtBoot(start: () => void, stop: () => void) {
  let running = false;
  function startOnce() {
    if (running) return;
    running = true;
    start();
  }
  E.on("init", startOnce);
  E.on("kill", function () {
    if (!running) return;
    running = false;
    stop();
  });
  startOnce();
}
