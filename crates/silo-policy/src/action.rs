//! The closed set of actions an agent can ask the membrane for; anything else is an error.

use std::fmt;
use std::str::FromStr;

/// An action name as the membrane sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `refund`: pay money back to the task's customer.
    Refund,
    /// `email.send`: send a templated email to the task's customer.
    EmailSend,
    /// `sms.send`: send a templated SMS to the task's customer.
    SmsSend,
    /// `data.read`: read fields of the task's customer record.
    DataRead,
    /// `data.write`: run a named write operation on the task's records.
    DataWrite,
    /// `escalate`: hand the task to a listed target.
    Escalate,
    /// `llm.chat`: a chat completion through the membrane.
    LlmChat,
    /// `kv.get`: read task-scoped scratch state.
    KvGet,
    /// `kv.put`: write task-scoped scratch state.
    KvPut,
    /// `approve`: approve a pending action. Never allowed to an agent.
    Approve,
}

impl Action {
    /// Every action, for listings and tests.
    pub const ALL: [Action; 10] = [
        Action::Refund,
        Action::EmailSend,
        Action::SmsSend,
        Action::DataRead,
        Action::DataWrite,
        Action::Escalate,
        Action::LlmChat,
        Action::KvGet,
        Action::KvPut,
        Action::Approve,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Refund => "refund",
            Action::EmailSend => "email.send",
            Action::SmsSend => "sms.send",
            Action::DataRead => "data.read",
            Action::DataWrite => "data.write",
            Action::Escalate => "escalate",
            Action::LlmChat => "llm.chat",
            Action::KvGet => "kv.get",
            Action::KvPut => "kv.put",
            Action::Approve => "approve",
        }
    }

    /// `true` for actions that touch a customer's resource and so need customer scope.
    pub fn touches_customer(self) -> bool {
        matches!(
            self,
            Action::Refund
                | Action::EmailSend
                | Action::SmsSend
                | Action::DataRead
                | Action::DataWrite
        )
    }

    /// `true` for actions whose params carry an `amount` in minor units.
    pub fn carries_amount(self) -> bool {
        matches!(self, Action::Refund)
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action `{s}`"))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        assert!("wire.transfer".parse::<Action>().is_err());
        assert!("Refund".parse::<Action>().is_err());
        assert!("".parse::<Action>().is_err());
    }
}
