// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface ICrypto {
    function sm3(bytes calldata data) external view returns (bytes32);
    function keccak(bytes calldata data) external view returns (bytes32);
}

/// Records document hashes; hashes with the native Crypto contract (SM3) at 0x...1003.
contract Notary {
    ICrypto constant CRYPTO = ICrypto(address(0x1003));

    event Notarized(address indexed by, bytes32 indexed digest, string label);

    mapping(bytes32 => address) public notarizedBy;

    function notarize(bytes calldata document, string calldata label) external returns (bytes32) {
        bytes32 digest = CRYPTO.sm3(document);
        require(notarizedBy[digest] == address(0), "already notarized");
        notarizedBy[digest] = msg.sender;
        emit Notarized(msg.sender, digest, label);
        return digest;
    }

    function sm3Of(bytes calldata document) external view returns (bytes32) {
        return CRYPTO.sm3(document);
    }
}
