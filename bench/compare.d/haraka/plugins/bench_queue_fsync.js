// bench/compare: the queue plugin that makes Haraka durable before 250.
// Writes the whole message (as received, CRLF line endings) to a new file
// in the spool directory, fsync()s the file, closes it, and only then calls
// next(OK), which makes Haraka send 250. On any error: next(DENYSOFT) -> 451.
// Spool directory: $BENCH_SPOOL (set by bench/compare).
'use strict'
const fs = require('node:fs')
const path = require('node:path')

let spool = process.env.BENCH_SPOOL || '/tmp/haraka-bench-spool'
let seq = 0

exports.register = function () {
    fs.mkdirSync(spool, { recursive: true })
}

exports.hook_queue = function (next, connection) {
    const txn = connection.transaction
    const name = path.join(spool, `${process.pid}-${Date.now()}-${++seq}.eml`)
    fs.open(name, 'wx', 0o600, (err, fd) => {
        if (err) return next(DENYSOFT, 'spool open failed')
        const ws = fs.createWriteStream(null, { fd, autoClose: false })
        let done = false
        const fail = (e) => {
            if (done) return
            done = true
            fs.close(fd, () => next(DENYSOFT, 'spool write failed'))
        }
        ws.on('error', fail)
        ws.on('finish', () => {
            if (done) return
            fs.fsync(fd, (e) => {
                if (e) return fail(e)
                done = true
                fs.close(fd, (e2) => {
                    if (e2) return next(DENYSOFT, 'spool close failed')
                    next(OK, 'queued durably')
                })
            })
        })
        txn.message_stream.pipe(ws, { line_endings: '\r\n' })
    })
}
