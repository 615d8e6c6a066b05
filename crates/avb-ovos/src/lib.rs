//! The OVOS messagebus the platform serves (spec/ovos.md section 2): OVOS's wire format (text
//! JSON frames `{type, data, context}` on `/core`, the `connected` hello, every frame relayed to
//! every client, the sender included), with what the stock bus lacks: a token per client
//! (`?client_id=&token=` on the handshake), per-client records and counters, a bounded outbound
//! queue per client (a slow consumer is dropped, never buffered without limit), a flood limit,
//! frames checked to be OVOS messages, TCP_NODELAY (the stock bus pays ~44 ms per hop to Nagle),
//! a latency probe, Prometheus series, and a graceful restart that keeps its records.

mod bridge;
mod bus;
mod frame;
mod probe;
mod server;
mod turn;

pub use bridge::{bridge, display_url as bridge_display_url};
pub use bus::{Attached, Bus, BusEvent, BusSettings, BusStatus, ClientView};
pub use frame::{Frame, message};
pub use probe::run_probe;
pub use server::serve;
pub use turn::{TurnOutcome, TurnRequest, ask, intent_of, request};
