// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Two versions of one contract behind a GovernedProxy: version 2 keeps version 1's storage
/// layout (the count in slot 0) and adds a method.
contract CounterV1 {
    uint256 public count;

    function increment() external {
        count += 1;
    }

    function version() external pure returns (uint256) {
        return 1;
    }
}

contract CounterV2 {
    uint256 public count;

    function increment() external {
        count += 1;
    }

    function decrement() external {
        count -= 1;
    }

    function version() external pure returns (uint256) {
        return 2;
    }
}
