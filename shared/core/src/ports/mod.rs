//! Ports: the small traits services depend on; `local/` and `aws/` implement them.

pub mod blob;
pub mod clock;
pub mod document;
pub mod item_store;
pub mod keys;
pub mod page;
pub mod platform;
pub mod queue;
pub mod workflow;

pub use blob::{BlobError, BlobInfo, BlobStore};
pub use clock::{Clock, IdGenerator, IdGeneratorExt, ManualClock, SystemClock, UuidIds};
pub use document::{InvoiceRenderer, RenderError};
pub use item_store::{
    Condition, FailedWrite, Index, Item, ItemStore, Key, Page, Query, StoreError, UpdateAction, WriteOp,
};
pub use keys::{DataKey, GeneratedKey, KeyError, KeyProvider, SealContext};
pub use page::{all_pages, for_each_page};
pub use platform::{
    ArticlePayload, Destination, MediaUpload, PlatformError, Platforms, PublishingPlatform, RemoteMedia, RemotePost,
    SeoField, SeoFields,
};
pub use queue::{Queue, QueueError, QueueMessage};
