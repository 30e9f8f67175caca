// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// An ERC-1967 proxy the consortium upgrades by vote.
///
/// Its admin is normally the Governance contract (0x0000000000000000000000000000000000001000):
/// the admin alone may call `upgradeToAndCall(address,bytes)` or `changeAdmin(address)`, which
/// Governance does when a `contract-call` proposal naming this proxy passes. Every other
/// caller's calls run the implementation's code on the proxy's storage (the admin's never
/// reach the implementation: the transparent pattern, so no implementation function can
/// shadow the upgrade). The implementation and admin sit in the ERC-1967 slots, so explorers
/// and tools find them; a new implementation must keep the old one's storage layout.
contract GovernedProxy {
    // keccak256("eip1967.proxy.implementation") - 1
    bytes32 private constant IMPLEMENTATION_SLOT =
        0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;
    // keccak256("eip1967.proxy.admin") - 1
    bytes32 private constant ADMIN_SLOT =
        0xb53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103;

    event Upgraded(address indexed implementation);
    event AdminChanged(address previousAdmin, address newAdmin);

    constructor(address implementation, address admin, bytes memory data) {
        _setAdmin(admin);
        _upgradeToAndCall(implementation, data);
    }

    fallback() external payable {
        if (msg.sender == _admin()) {
            _adminCall();
        } else {
            _delegate(_implementation());
        }
    }

    function _adminCall() private {
        if (msg.sig == bytes4(keccak256("upgradeToAndCall(address,bytes)"))) {
            (address implementation, bytes memory data) = abi.decode(msg.data[4:], (address, bytes));
            _upgradeToAndCall(implementation, data);
        } else if (msg.sig == bytes4(keccak256("changeAdmin(address)"))) {
            _setAdmin(abi.decode(msg.data[4:], (address)));
        } else {
            revert("GovernedProxy: the admin may only upgrade the proxy or change its admin");
        }
    }

    function _upgradeToAndCall(address implementation, bytes memory data) private {
        require(implementation.code.length > 0, "GovernedProxy: the implementation has no code");
        assembly {
            sstore(IMPLEMENTATION_SLOT, implementation)
        }
        emit Upgraded(implementation);
        if (data.length > 0) {
            (bool ok, bytes memory result) = implementation.delegatecall(data);
            if (!ok) {
                assembly {
                    revert(add(result, 32), mload(result))
                }
            }
        }
    }

    function _setAdmin(address admin) private {
        require(admin != address(0), "GovernedProxy: the admin cannot be the zero address");
        emit AdminChanged(_admin(), admin);
        assembly {
            sstore(ADMIN_SLOT, admin)
        }
    }

    function _admin() private view returns (address admin) {
        assembly {
            admin := sload(ADMIN_SLOT)
        }
    }

    function _implementation() private view returns (address implementation) {
        assembly {
            implementation := sload(IMPLEMENTATION_SLOT)
        }
    }

    function _delegate(address implementation) private {
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), implementation, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
