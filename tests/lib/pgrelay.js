// pgrelay.js - a TCP relay in front of PostgreSQL for the fleet suite, which can lose a COMMIT.
//
//   node pgrelay.js DIR TARGET_PORT
//
// Listens on 127.0.0.1 at a port of the kernel's choice (written to DIR/port once listening),
// forwards every connection to 127.0.0.1:TARGET_PORT, and exits on SIGTERM.
// While the file DIR/cut exists, the next client message that carries "COMMIT" (libpq's Parse
// of our COMMIT, or a simple Query) is not forwarded: the relay removes DIR/cut, cuts both sides
// of that connection at once, as a network cut or a pooler restart would, and writes DIR/cut.done.
// The server then sees a client gone in the middle of its transaction and rolls it back; the
// client sees its COMMIT unanswered.  DIR/cut-after does the same after the COMMIT went through to
// the server: the commit is made, its answer lost.  While DIR/down exists, new connections are cut as soon as
// they are accepted (a network still cut); connections already open are left alone.  Nothing is logged: the traffic holds sealed records only,
// but it is not ours to print.
"use strict";
const fs = require("fs");
const net = require("net");
const path = require("path");

const [dir, target] = process.argv.slice(2);
if (!dir || !target) {
	process.stderr.write("usage: pgrelay.js DIR TARGET_PORT\n");
	process.exit(64);
}
const cutFile = path.join(dir, "cut");
const cutAfterFile = path.join(dir, "cut-after");
const COMMIT = Buffer.from("COMMIT");

const downFile = path.join(dir, "down");

const server = net.createServer((client) => {
	if (fs.existsSync(downFile)) {
		client.destroy();
		return;
	}
	const upstream = net.connect(+target, "127.0.0.1");
	const end = () => { client.destroy(); upstream.destroy(); };
	client.on("data", (chunk) => {
		if (chunk.includes(COMMIT) && fs.existsSync(cutFile)) {
			fs.rmSync(cutFile, { force: true });
			end();
			fs.writeFileSync(path.join(dir, "cut.done"), "1\n");
			return;
		}
		if (chunk.includes(COMMIT) && fs.existsSync(cutAfterFile)) {
			fs.rmSync(cutAfterFile, { force: true });
			// The server gets the COMMIT, then the end of the stream; the client nothing more.
			client.destroy();
			upstream.end(chunk);
			fs.writeFileSync(path.join(dir, "cut.done"), "1\n");
			return;
		}
		upstream.write(chunk);
	});
	upstream.on("data", (chunk) => client.write(chunk));
	client.on("error", end);
	upstream.on("error", end);
	client.on("close", end);
	upstream.on("close", end);
});
server.listen(0, "127.0.0.1", () => {
	const tmp = path.join(dir, "port.tmp");
	fs.writeFileSync(tmp, `${server.address().port}\n`);
	fs.renameSync(tmp, path.join(dir, "port"));
});
process.on("SIGTERM", () => process.exit(0));
