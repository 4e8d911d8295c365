//! Identifiers of the backend's entities. Plain numbers with a type each, so a user can
//! never be passed where a table is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A player's account (and wallet).
    UserId, "user-"
);
id_type!(
    /// A poker table (a chat, in the original bot).
    TableId, "table-"
);
id_type!(
    /// A wallet reservation of the two-phase commit.
    ReservationId, "rsv-"
);
id_type!(
    /// A client request; duplicates carry the same ID.
    RequestId, "req-"
);
id_type!(
    /// An entry of the dead-letter queue.
    DlqId, "dlq-"
);
