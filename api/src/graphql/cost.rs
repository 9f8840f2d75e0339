//! What a request may cost: the price of the fields that read much more than they return, in
//! the complexity analysis that refuses a request over [`MAX_COMPLEXITY`] up front with
//! QUERY_TOO_COMPLEX; and the gates that keep a share of the connection pool for
//! authentication and cheap reads while verifications and as-of reports run.
//!
//! Without them, 70 aliases of `verifyIntegrity` in one request ran until the request timeout
//! and took every connection of the pool, and a partner's `{ me { role } }` waited 26 s.

use sqlx::PgPool;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::ApiError;
use super::schema::MAX_COMPLEXITY;

/// `verifyIntegrity` reads the whole log: one per request.
pub const VERIFY_INTEGRITY: usize = MAX_COMPLEXITY / 2 + 1;

/// `indicators`: a base price, more per dimension of the breakdown (each multiplies the cells
/// read and answered), and much more with `asOf`, which refolds every stream of the programme.
pub fn indicators(as_of: bool, dimensions: usize, child_complexity: usize) -> usize {
    let base = 20 + 40 * dimensions;
    let refold = if as_of { 300 } else { 0 };
    base + refold + child_complexity
}

/// `eventLog(first)`: its selection once per thousand events of the page (a whole page of
/// 10,000 events with every field is one request's worth).
pub fn event_log(first: Option<i32>, child_complexity: usize) -> usize {
    let first = usize::try_from(first.unwrap_or(1000)).unwrap_or(0);
    1 + child_complexity * first.div_ceil(1000)
}

/// Gates in front of the reads that hold connections for long: at most one verification at a
/// time (it reads on up to half the pool), and as-of reports on at most a quarter of it; the
/// rest is left to everything else. A request waits at its gate without holding a connection.
#[derive(Debug)]
pub struct Gates {
    verification: Semaphore,
    heavy_reads: Semaphore,
}

impl Gates {
    /// Gates sized for `pool`.
    pub fn for_pool(pool: &PgPool) -> Gates {
        let connections = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
        Gates {
            verification: Semaphore::new(1),
            heavy_reads: Semaphore::new((connections / 4).max(1)),
        }
    }

    /// Waits for the verification gate.
    pub async fn verification(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        self.verification
            .acquire()
            .await
            .map_err(|error| ApiError::internal("the verification gate is closed", &error))
    }

    /// Waits for a heavy read's gate.
    pub async fn heavy_read(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        self.heavy_reads
            .acquire()
            .await
            .map_err(|error| ApiError::internal("the heavy reads' gate is closed", &error))
    }
}
