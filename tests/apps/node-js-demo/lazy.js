// lazy.js: required on the first GET /lazy, so a breakpoint set here before
// that request is pending until the script loads.
'use strict';

function lazyGreeting(text) {
  const upper = text.toUpperCase();
  return upper + ' (lazy)'; // LAZY_BP
}

module.exports = { lazyGreeting };
