//! In-process adapters: the zero-setup defaults. They hold the same contracts as the Redis and
//! RabbitMQ adapters (the testkit's contract suites run against both) but live and die with the
//! process, and only one process can share them.

mod bus;
mod presence;
mod sessions;
mod throttle;

pub use bus::MemoryBus;
pub use presence::MemoryPresence;
pub use sessions::MemorySessions;
pub use throttle::MemoryThrottle;
