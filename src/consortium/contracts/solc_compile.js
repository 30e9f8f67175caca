// Reads a solc standard-JSON input on stdin and writes solc's standard-JSON output on stdout.
const solc = require("solc");
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => { process.stdout.write(solc.compile(input)); });
