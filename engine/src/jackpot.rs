//! placeholder: the jackpot service (being written).
