// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The large-state network bench's filler (`consortium bench state --network`): one call of
/// `fill(seed, start, count)` sends 1 wei to each of the `count` addresses
/// `recipient(seed, i)`, i in [start, start + count), so a block of fill transactions creates
/// tens of thousands of accounts through the chain itself. Deployed with a wei per account
/// to create. The bench computes the same addresses in Python
/// (keccak(abi.encode(seed, i))[12:]) to pick its transfers' recipients among them.
contract Airdrop {
    constructor() payable {}

    function recipient(uint256 seed, uint256 i) public pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(seed, i)))));
    }

    function fill(uint256 seed, uint256 start, uint256 count) external {
        uint256 end = start + count;
        for (uint256 i = start; i < end; ) {
            (bool ok, ) = recipient(seed, i).call{value: 1}("");
            require(ok, "fill: transfer failed");
            unchecked {
                ++i;
            }
        }
    }
}
