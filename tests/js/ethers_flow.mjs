// ethers.js v6 against a Consortium network, each step through a different node.
// Inputs (env): RPC0..RPC2, KEY_A, ADDRESS_B, TOKEN (JSON file with abi and bytecode).
// Prints one JSON object with what it observed; the pytest test asserts on it.
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

const env = process.env;
const token = JSON.parse(readFileSync(env.TOKEN, "utf8"));
const providers = [env.RPC0, env.RPC1, env.RPC2].map((url) => {
  const p = new ethers.JsonRpcProvider(url);
  p.pollingInterval = 200;
  return p;
});
const wallet = new ethers.Wallet(env.KEY_A, providers[0]);
const out = {};
const timeout = (ms, what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms));

const factory = new ethers.ContractFactory(token.abi, token.bytecode, wallet);
const deployed = await factory.deploy("Ethers Coin", "ETC", 10n ** 24n);
await deployed.waitForDeployment();
const address = await deployed.getAddress();
out.address = address;
out.chainId = Number((await providers[1].getNetwork()).chainId);

// Subscribe on node1 before the transfer.
const onNode1 = new ethers.Contract(address, token.abi, providers[1]);
const seen = new Promise((resolve) => {
  onNode1.on("Transfer", (from, to, value) => {
    if (to === env.ADDRESS_B) resolve({ from, to, value: value.toString() });
  });
});

const before = await providers[0].getBlockNumber();
const tx = await deployed.transfer(env.ADDRESS_B, 777n);
const receipt = await tx.wait();
out.status = receipt.status;
out.event = await Promise.race([seen, timeout(30000, "contract.on Transfer")]);
await onNode1.removeAllListeners();

const onNode2 = new ethers.Contract(address, token.abi, providers[2]);
while ((await providers[2].getBlockNumber()) < receipt.blockNumber) {
  await new Promise((r) => setTimeout(r, 200));
}
const logs = await onNode2.queryFilter(onNode2.filters.Transfer(null, env.ADDRESS_B), 0);
out.logs = logs.map((l) => ({ from: l.args[0], value: l.args[2].toString() }));
out.balanceNow = (await onNode2.balanceOf(env.ADDRESS_B)).toString();
out.balanceBefore = (await onNode2.balanceOf(env.ADDRESS_B, { blockTag: before })).toString();

try {
  await onNode2.transfer.staticCall(wallet.address, 10n ** 30n, { from: env.ADDRESS_B });
  out.revert = null;
} catch (err) {
  out.revert = err.reason ?? err.shortMessage ?? String(err);
}
console.log(JSON.stringify(out));
for (const p of providers) p.destroy();
