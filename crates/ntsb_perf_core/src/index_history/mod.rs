//! Index history capability: how each snapshot measures an index (`snapshot`) and the forecasts
//! drawn from an index's snapshots (`forecast`).

pub mod forecast;
pub mod snapshot;
