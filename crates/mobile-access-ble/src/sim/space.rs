//! Where things are, and what signal strength that gives.

/// A point in a room, in metres.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    /// Metres east.
    pub x: f64,
    /// Metres north.
    pub y: f64,
    /// Metres up.
    pub z: f64,
}

impl Position {
    /// A point on the floor plan.
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y, z: 0.0 }
    }

    /// Distance to `other`, in metres.
    pub fn distance(&self, other: &Position) -> f64 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2) + (self.z - other.z).powi(2)).sqrt()
    }
}

/// Closest distance the model evaluates: below it the log-distance model (a far-field model)
/// would predict ever-growing power; real antennas saturate.
pub const MIN_DISTANCE_M: f64 = 0.01;

/// Log-distance path loss: the mean RSSI at `distance` of a transmitter whose RSSI at 1 m is
/// `power_at_1m`, with path-loss `exponent` (2 in free space, 2.7–3.5 indoors with obstacles).
pub fn mean_rssi(power_at_1m: f64, exponent: f64, distance: f64) -> f64 {
    power_at_1m - 10.0 * exponent * distance.max(MIN_DISTANCE_M).log10()
}

/// The distance the same model gives for a measured `rssi` (what a phone can estimate from an
/// advertisement's calibrated TX power).
pub fn distance_for(power_at_1m: f64, exponent: f64, rssi: f64) -> f64 {
    10f64.powf((power_at_1m - rssi) / (10.0 * exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_falls_6_db_per_doubling_in_free_space() {
        let near = mean_rssi(-59.0, 2.0, 1.0);
        let far = mean_rssi(-59.0, 2.0, 2.0);
        assert!((near - -59.0).abs() < 1e-9);
        assert!((near - far - 6.02).abs() < 0.01);
    }

    #[test]
    fn distance_inverts_rssi() {
        for d in [0.05, 0.3, 1.0, 3.0, 12.0] {
            let rssi = mean_rssi(-59.0, 2.4, d);
            assert!((distance_for(-59.0, 2.4, rssi) - d).abs() < 1e-9);
        }
    }
}
