// bench/compare: accept every recipient (the benchmark's loopback clients
// only), so the queue plugin sees every message.
'use strict'
exports.hook_rcpt = function (next) {
    next(OK)
}
