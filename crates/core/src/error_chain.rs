//! An error and its sources on one line, for messages built from library errors whose own
//! `Display` is only the outermost layer (reqwest, hyper, tonic).

/// `outer: inner: innermost`, leaving out a source whose text the line already holds.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let msg = inner.to_string();
        if !line.contains(&msg) {
            line.push_str(": ");
            line.push_str(&msg);
        }
        cur = inner.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn every_layer_once() {
        let e = E(
            "error sending request",
            Some(Box::new(E(
                "client error (Connect)",
                Some(Box::new(E("Connection refused", None))),
            ))),
        );
        assert_eq!(
            error_chain(&e),
            "error sending request: client error (Connect): Connection refused"
        );
        let repeated = E(
            "tcp connect error: refused",
            Some(Box::new(E("refused", None))),
        );
        assert_eq!(error_chain(&repeated), "tcp connect error: refused");
    }
}
