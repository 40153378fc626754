//! Solidity syntax that changed between compiler versions, so generated contracts compile in
//! the era their pragma names.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    V04,
    V05,
    V06,
    V07,
    V08,
}

impl Era {
    pub const ALL: [Era; 5] = [Era::V04, Era::V05, Era::V06, Era::V07, Era::V08];

    pub fn pragma(self) -> &'static str {
        match self {
            Era::V04 => "pragma solidity ^0.4.24;",
            Era::V05 => "pragma solidity ^0.5.17;",
            Era::V06 => "pragma solidity ^0.6.12;",
            Era::V07 => "pragma solidity ^0.7.6;",
            Era::V08 => "pragma solidity ^0.8.19;",
        }
    }

    /// A low-level call sending `amount` to `to`, as a statement binding `ok`.
    pub fn call_value(self, to: &str, amount: &str) -> String {
        match self {
            Era::V04 => format!("bool ok = {to}.call.value({amount})();"),
            Era::V05 => format!("(bool ok, ) = {to}.call.value({amount})(\"\");"),
            _ => format!("(bool ok, ) = {to}.call{{value: {amount}}}(\"\");"),
        }
    }

    /// The same call whose result is dropped.
    pub fn call_value_unchecked(self, to: &str, amount: &str) -> String {
        match self {
            Era::V04 => format!("{to}.call.value({amount})();"),
            Era::V05 => format!("{to}.call.value({amount})(\"\");"),
            _ => format!("{to}.call{{value: {amount}}}(\"\");"),
        }
    }

    /// `addr` usable with `.transfer`/`.send`.
    pub fn payable(self, addr: &str) -> String {
        match self {
            Era::V04 => addr.to_string(),
            _ => format!("payable({addr})"),
        }
    }

    pub fn now(self) -> &'static str {
        match self {
            Era::V04 | Era::V05 | Era::V06 => "now",
            _ => "block.timestamp",
        }
    }

    pub fn constructor(self) -> &'static str {
        match self {
            Era::V07 | Era::V08 => "constructor()",
            _ => "constructor() public",
        }
    }

    pub fn address_payable(self) -> &'static str {
        match self {
            Era::V04 => "address",
            _ => "address payable",
        }
    }

    pub fn receive(self) -> &'static str {
        match self {
            Era::V04 | Era::V05 => "function() external payable",
            _ => "receive() external payable",
        }
    }
}
