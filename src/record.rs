//! Records as the processor sees them: data already base64-decoded.

use std::borrow::Cow;
use std::str::Utf8Error;

use crate::sequence::Position;

/// One Kinesis record (a user record, after the daemon's KPL de-aggregation).
///
/// A record borrows from the batch it came in, so a batch is decoded without one
/// allocation per record; call [`Record::to_owned_record`] to keep one beyond the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The payload, base64-decoded. May be empty and need not be UTF-8.
    pub data: &'a [u8],
    /// The partition key the producer gave.
    pub partition_key: Cow<'a, str>,
    /// The sequence number, a decimal string of up to 128 bits.
    pub sequence_number: Cow<'a, str>,
    /// The index of this user record within its KPL aggregate (0 when not aggregated).
    pub sub_sequence_number: u64,
    /// When Kinesis received the record, in milliseconds since the Unix epoch.
    pub approximate_arrival_timestamp: Option<i64>,
}

impl Record<'_> {
    /// The data as UTF-8 text, or the error saying where it is not.
    pub fn data_utf8(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(self.data)
    }

    /// This record's position in the shard.
    pub fn position(&self) -> Position {
        Position::new(self.sequence_number.as_ref(), self.sub_sequence_number)
    }

    /// The position as a borrowed pair, for comparisons that should not allocate.
    pub fn position_parts(&self) -> (&str, u64) {
        (&self.sequence_number, self.sub_sequence_number)
    }

    /// A copy that owns its data.
    pub fn to_owned_record(&self) -> OwnedRecord {
        OwnedRecord {
            data: self.data.to_vec(),
            partition_key: self.partition_key.to_string(),
            sequence_number: self.sequence_number.to_string(),
            sub_sequence_number: self.sub_sequence_number,
            approximate_arrival_timestamp: self.approximate_arrival_timestamp,
        }
    }
}

/// A record that owns its fields, for processors that keep records across batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    /// The payload, base64-decoded.
    pub data: Vec<u8>,
    /// The partition key.
    pub partition_key: String,
    /// The sequence number.
    pub sequence_number: String,
    /// The sub-sequence number.
    pub sub_sequence_number: u64,
    /// Arrival time in epoch milliseconds.
    pub approximate_arrival_timestamp: Option<i64>,
}

impl OwnedRecord {
    /// This record's position in the shard.
    pub fn position(&self) -> Position {
        Position::new(self.sequence_number.as_str(), self.sub_sequence_number)
    }
}
