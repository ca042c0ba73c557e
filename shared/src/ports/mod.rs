//! Ports: the small traits services depend on; `local/` and `aws/` implement them.

pub mod clock;
pub mod item_store;

pub use clock::{Clock, IdGenerator, ManualClock, SystemClock, UuidIds};
pub use item_store::{
    Condition, FailedWrite, Index, Item, ItemStore, Key, Page, Query, StoreError, UpdateAction,
    WriteOp,
};
