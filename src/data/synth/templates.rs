//! Function templates: for each weakness a vulnerable form and near-miss safe forms of the same
//! function, with the same neutral names, so that only the code's logic tells them apart.

use super::era::Era;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// The weaknesses the demo data covers, rarest first (the primary label of a contract with
/// several is the first of its classes in this order, as in cgt_dasp).
pub const WEAKNESSES: [&str; 7] = [
    "tx_origin",
    "access_control",
    "time_manipulation",
    "reentrancy",
    "unchecked_low_level_calls",
    "bad_randomness",
    "arithmetic",
];

/// Identifiers shared by one contract's functions, drawn from neutral pools.
pub struct Names {
    pub owner: &'static str,
    pub ledger: &'static str,
    pub only_owner: &'static str,
    pub pay_fn: &'static str,
    pub move_fn: &'static str,
    pub admin_fn: &'static str,
    pub draw_fn: &'static str,
    pub unlock: &'static str,
}

impl Names {
    pub fn draw(rng: &mut ChaCha8Rng) -> Self {
        Self {
            owner: pick(
                rng,
                &["owner", "admin", "manager", "controller", "operator"],
            ),
            ledger: pick(
                rng,
                &["balances", "deposits", "credits", "accounts", "shares"],
            ),
            only_owner: pick(rng, &["onlyOwner", "onlyAdmin", "restricted", "authorized"]),
            pay_fn: pick(
                rng,
                &[
                    "withdraw", "claim", "payout", "release", "collect", "redeem",
                ],
            ),
            move_fn: pick(rng, &["transfer", "move", "send", "assign", "shift"]),
            admin_fn: pick(rng, &["close", "shutdown", "terminate", "retire", "finish"]),
            draw_fn: pick(rng, &["play", "enter", "spin", "roll", "bet"]),
            unlock: pick(rng, &["unlockTime", "releaseAt", "openAt", "maturity"]),
        }
    }
}

/// Ends each line that carries a planted weakness; `render` records the line and removes it.
pub const BUG: &str = "\u{1}";

pub fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    *items.choose(rng).unwrap_or(&items[0])
}

/// The function(s) a weakness contributes, vulnerable or in a safe near-miss form.
pub fn focus(
    weakness: &str,
    vulnerable: bool,
    era: Era,
    n: &Names,
    rng: &mut ChaCha8Rng,
) -> String {
    match weakness {
        "reentrancy" => reentrancy(vulnerable, era, n, rng),
        "unchecked_low_level_calls" => unchecked_call(vulnerable, era, n, rng),
        "tx_origin" => origin_auth(vulnerable, n, rng),
        "time_manipulation" => timing(vulnerable, era, n, rng),
        "arithmetic" => arithmetic(vulnerable, n, rng),
        "access_control" => access(vulnerable, era, n, rng),
        "bad_randomness" => randomness(vulnerable, era, n, rng),
        _ => String::new(),
    }
}

fn reentrancy(vulnerable: bool, era: Era, n: &Names, rng: &mut ChaCha8Rng) -> String {
    let (l, f) = (n.ledger, n.pay_fn);
    let call = era.call_value("msg.sender", "amount");
    if vulnerable {
        // The state update comes after the external call.
        return format!(
            "    function {f}(uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {call}\u{1}\n        require(ok);\n        {l}[msg.sender] -= amount;\u{1}\n    }}\n"
        );
    }
    match rng.random_range(0..3) {
        // Checks-effects-interactions: the same lines, in the safe order.
        0 => format!(
            "    function {f}(uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {l}[msg.sender] -= amount;\n        {call}\n        require(ok);\n    }}\n"
        ),
        // A mutex guards the call.
        1 => format!(
            "    bool private busy;\n\n    function {f}(uint256 amount) public {{\n        require(!busy);\n        busy = true;\n        require({l}[msg.sender] >= amount);\n        {call}\n        require(ok);\n        {l}[msg.sender] -= amount;\n        busy = false;\n    }}\n"
        ),
        // transfer forwards too little gas to re-enter.
        _ => format!(
            "    function {f}(uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {}.transfer(amount);\n        {l}[msg.sender] -= amount;\n    }}\n",
            era.payable("msg.sender")
        ),
    }
}

fn unchecked_call(vulnerable: bool, era: Era, n: &Names, rng: &mut ChaCha8Rng) -> String {
    let (l, f) = (n.ledger, n.pay_fn);
    let to = era.payable("to");
    if vulnerable {
        return match rng.random_range(0..2) {
            0 => format!(
                "    function {f}(address to, uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {l}[msg.sender] -= amount;\n        {to}.send(amount);\u{1}\n    }}\n"
            ),
            _ => format!(
                "    function {f}(address to, uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {l}[msg.sender] -= amount;\n        {}\u{1}\n    }}\n",
                era.call_value_unchecked(&to, "amount")
            ),
        };
    }
    match rng.random_range(0..3) {
        0 => format!(
            "    function {f}(address to, uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {l}[msg.sender] -= amount;\n        require({to}.send(amount));\n    }}\n"
        ),
        1 => format!(
            "    function {f}(address to, uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {l}[msg.sender] -= amount;\n        {}\n        require(ok);\n    }}\n",
            era.call_value(&to, "amount")
        ),
        _ => format!(
            "    function {f}(address to, uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        {l}[msg.sender] -= amount;\n        if (!{to}.send(amount)) {{\n            {l}[msg.sender] += amount;\n        }}\n    }}\n"
        ),
    }
}

fn origin_auth(vulnerable: bool, n: &Names, rng: &mut ChaCha8Rng) -> String {
    let (o, f) = (n.owner, n.move_fn);
    let check = if vulnerable {
        format!("tx.origin == {o}")
    } else if rng.random_bool(0.5) {
        format!("msg.sender == {o}")
    } else {
        // tx.origin appears, but only to refuse contract callers; the owner check is sound.
        format!("msg.sender == {o} && tx.origin == msg.sender")
    };
    let mark = if vulnerable { BUG } else { "" };
    format!(
        "    function {f}Ownership(address next) public {{\n        require({check});{mark}\n        {o} = next;\n    }}\n"
    )
}

fn timing(vulnerable: bool, era: Era, n: &Names, rng: &mut ChaCha8Rng) -> String {
    let (l, u, now) = (n.ledger, n.unlock, era.now());
    let pay = era.payable("msg.sender");
    if vulnerable {
        // A window of seconds: a miner can move the timestamp into it.
        let window = pick(rng, &["15 seconds", "30 seconds", "1 minutes"]);
        return format!(
            "    uint256 public {u};\n\n    function {}() public {{\n        require({now} >= {u} && {now} <= {u} + {window});\u{1}\n        {u} = {now};\n        {pay}.transfer(address(this).balance);\n    }}\n",
            n.pay_fn
        );
    }
    let horizon = pick(rng, &["30 days", "7 days", "365 days"]);
    format!(
        "    uint256 public {u} = {now} + {horizon};\n\n    function {}() public {{\n        require({now} >= {u});\n        uint256 amount = {l}[msg.sender];\n        {l}[msg.sender] = 0;\n        {pay}.transfer(amount);\n    }}\n",
        n.pay_fn
    )
}

fn arithmetic(vulnerable: bool, n: &Names, rng: &mut ChaCha8Rng) -> String {
    let (l, f) = (n.ledger, n.move_fn);
    if vulnerable {
        return match rng.random_range(0..2) {
            0 => format!(
                "    function {f}(address to, uint256 amount) public {{\n        {l}[msg.sender] -= amount;\u{1}\n        {l}[to] += amount;\u{1}\n    }}\n"
            ),
            _ => format!(
                "    function {f}Batch(address[] memory to, uint256 amount) public {{\n        uint256 total = to.length * amount;\u{1}\n        require({l}[msg.sender] >= total);\n        {l}[msg.sender] -= total;\n        for (uint256 i = 0; i < to.length; i++) {{\n            {l}[to[i]] += amount;\n        }}\n    }}\n"
            ),
        };
    }
    match rng.random_range(0..2) {
        0 => format!(
            "    function {f}(address to, uint256 amount) public {{\n        require({l}[msg.sender] >= amount);\n        require({l}[to] + amount >= {l}[to]);\n        {l}[msg.sender] -= amount;\n        {l}[to] += amount;\n    }}\n"
        ),
        _ => format!(
            "    function {f}Batch(address[] memory to, uint256 amount) public {{\n        require(to.length <= 100 && amount <= 10**30);\n        uint256 total = to.length * amount;\n        require({l}[msg.sender] >= total);\n        {l}[msg.sender] -= total;\n        for (uint256 i = 0; i < to.length; i++) {{\n            {l}[to[i]] += amount;\n        }}\n    }}\n"
        ),
    }
}

fn access(vulnerable: bool, era: Era, n: &Names, rng: &mut ChaCha8Rng) -> String {
    let (o, m, f) = (n.owner, n.only_owner, n.admin_fn);
    let guard = if vulnerable {
        ""
    } else if rng.random_bool(0.5) {
        m
    } else {
        "internal"
    };
    let target = era.payable(o);
    let body = if rng.random_bool(0.5) {
        format!("selfdestruct({target});")
    } else {
        format!("{target}.transfer(address(this).balance);")
    };
    if guard == "internal" {
        // Near miss: no modifier, but an explicit check in the body.
        return format!(
            "    function {f}() public {{\n        require(msg.sender == {o});\n        {body}\n    }}\n"
        );
    }
    let sep = if guard.is_empty() { "" } else { " " };
    // Unguarded: the signature that lacks the modifier and the call anyone can make.
    let mark = if vulnerable { BUG } else { "" };
    format!("    function {f}() public{sep}{guard} {{{mark}\n        {body}{mark}\n    }}\n")
}

fn randomness(vulnerable: bool, era: Era, n: &Names, rng: &mut ChaCha8Rng) -> String {
    let f = n.draw_fn;
    let pay = era.payable("msg.sender");
    if vulnerable {
        let source = pick(
            rng,
            &[
                "block.timestamp, msg.sender",
                "block.number, block.difficulty",
                "blockhash(block.number - 1)",
            ],
        );
        return format!(
            "    function {f}() public payable {{\n        require(msg.value == 1 ether);\n        uint256 pick = uint256(keccak256(abi.encodePacked({source}))) % 10;\u{1}\n        if (pick == 7) {{\n            {pay}.transfer(address(this).balance);\n        }}\n    }}\n"
        );
    }
    // The hash only names a ticket; no payout depends on it.
    format!(
        "    mapping(address => uint256) public tickets;\n    uint256 private nonce;\n\n    function {f}() public payable {{\n        require(msg.value == 1 ether);\n        nonce += 1;\n        tickets[msg.sender] = uint256(keccak256(abi.encodePacked(msg.sender, nonce)));\n    }}\n"
    )
}

/// Functions every kind of contract has; they never carry a weakness.
pub fn boilerplate(era: Era, n: &Names, rng: &mut ChaCha8Rng) -> Vec<String> {
    let (o, l, m) = (n.owner, n.ledger, n.only_owner);
    let mut parts = vec![
        format!(
            "    function deposit() public payable {{\n        {l}[msg.sender] += msg.value;\n        emit Deposited(msg.sender, msg.value);\n    }}\n"
        ),
        format!(
            "    function balanceOf(address who) public view returns (uint256) {{\n        return {l}[who];\n    }}\n"
        ),
    ];
    if rng.random_bool(0.6) {
        parts.push(format!(
            "    function setPaused(bool value) public {m} {{\n        paused = value;\n    }}\n"
        ));
    }
    if rng.random_bool(0.5) {
        parts.push(format!(
            "    function {o}Of() public view returns (address) {{\n        return {o};\n    }}\n"
        ));
    }
    if rng.random_bool(0.4) {
        parts.push(format!(
            "    {} {{\n        {l}[msg.sender] += msg.value;\n    }}\n",
            era.receive()
        ));
    }
    parts
}
