//! The OpenAI Realtime protocol as the official SDKs speak it, in both dialects (beta and GA):
//! parsing client events, the session and item shapes, typed server events, and the error
//! envelope. Pure functions over JSON; the gateway does the I/O.

pub mod dialect;
pub mod error;
pub mod events;
pub mod ids;
pub mod item;
pub mod server_events;
pub mod session;

pub use dialect::Dialect;
pub use error::{ErrorCode, ProtocolError};
pub use events::{ClientEvent, ServerEventKind, parse_client_event};
pub use item::{ContentPart, Item, ItemKind, Role};
pub use server_events::ServerEvent;
pub use session::{AudioFormat, SessionConfig, TurnDetection};
