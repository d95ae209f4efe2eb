//! A plan as a test scripts it (name, height, info), and its protobuf form as the node would
//! serve it. Shared by the chain state and by the decoding of executed proposal messages.

use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as upgrade;
use cosmos_sdk_proto::Timestamp;
use serde::{Deserialize, Serialize};

/// A plan as scripted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanScript {
    /// The upgrade's name.
    pub name: String,
    /// The height the chain halts at for it.
    pub height: i64,
    /// The plan's info: free text, JSON or a URL (e.g. one served by `GET /info/<path>`); empty
    /// when absent.
    #[serde(default)]
    pub info: String,
}

impl PlanScript {
    /// The plan as `x/upgrade` serves it, with `time` the zero time as the SDK reports it.
    #[allow(deprecated)] // `time` and `upgraded_client_state` are deprecated but still on the wire.
    pub fn to_proto(&self) -> upgrade::Plan {
        upgrade::Plan {
            name: self.name.clone(),
            // Non-nullable stdtime in the SDK: the zero time, 0001-01-01T00:00:00Z.
            time: Some(Timestamp {
                seconds: -62135596800,
                nanos: 0,
            }),
            height: self.height,
            info: self.info.clone(),
            upgraded_client_state: None,
        }
    }
}
