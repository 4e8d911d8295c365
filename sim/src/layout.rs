//! Who sits where: the tables of a scenario, their seated users, and the admin. Derived from
//! the scenario alone, so the world (which opens the wallets) and the clients (which play
//! them) agree without talking.

use std::collections::BTreeSet;

use engine::ids::{TableId, UserId};
use engine::rules::Chips;

use crate::scenario::Scenario;

/// The admin who may send emergency resets (holds no wallet).
pub const ADMIN: UserId = UserId(999_999);
/// Whether `user` may send emergency resets: the engine's `admins` are exactly [`ADMIN`].
pub fn is_admin(user: UserId) -> bool {
    user == ADMIN
}

/// The engine's `admins`, built from the same constant the checks read.
pub fn admins() -> BTreeSet<UserId> {
    BTreeSet::from([ADMIN])
}

/// Spectators — users seated by another process, never dealt in and holding no wallet — have
/// IDs from here up: table `t`'s is `SPECTATOR_BASE + t`.
pub const SPECTATOR_BASE: u64 = 900_000;

/// The spectator another writer seats at `table` (the stale writer's real change).
pub fn spectator_of(table: TableId) -> UserId {
    UserId(SPECTATOR_BASE + table.0)
}

/// Whether `user` is a spectator.
pub fn is_spectator(user: UserId) -> bool {
    (SPECTATOR_BASE..ADMIN.0).contains(&user.0)
}

/// User IDs of table `t` are `t * USERS_PER_TABLE_STRIDE + seat`.
const USERS_PER_TABLE_STRIDE: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Each table with its seated users, in seat order.
    pub tables: Vec<(TableId, Vec<UserId>)>,
    /// Every user with a wallet.
    pub users: BTreeSet<UserId>,
}

impl Layout {
    pub fn of(scenario: &Scenario) -> Layout {
        let settings = &scenario.tables;
        let shared: Vec<UserId> =
            (0..u64::from(settings.shared_players)).map(|s| UserId(USERS_PER_TABLE_STRIDE + s)).collect();
        let tables: Vec<(TableId, Vec<UserId>)> = (1..=u64::from(settings.tables))
            .map(|t| {
                let mut seats = shared.clone();
                let own = (0..u64::from(settings.players_per_table))
                    .map(|s| UserId(t * USERS_PER_TABLE_STRIDE + s))
                    .filter(|u| !shared.contains(u));
                seats.extend(own.take((settings.players_per_table - settings.shared_players) as usize));
                (TableId(t), seats)
            })
            .collect();
        let users = tables.iter().flat_map(|(_, seats)| seats.iter().copied()).collect();
        Layout { tables, users }
    }

    /// The chips in the system: every opening balance plus the house's opening chips.
    pub fn supply(&self, scenario: &Scenario) -> Chips {
        self.users.len() as Chips * scenario.tables.balance + scenario.tables.house_chips
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn shared_players_sit_at_every_table_with_one_wallet() {
        let text = "[tables]\ntables = 3\nplayers_per_table = 4\nshared_players = 1\n";
        let scenario = Scenario::parse(Path::new("m.toml"), text).unwrap();
        let layout = Layout::of(&scenario);
        assert_eq!(layout.tables.len(), 3);
        for (_, seats) in &layout.tables {
            assert_eq!(seats.len(), 4);
            assert_eq!(seats[0], UserId(100));
        }
        assert_eq!(layout.users.len(), 1 + 3 * 3);
    }
}
