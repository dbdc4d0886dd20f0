//! What the descriptor lookup needs from an ONNX file, read straight from its protobuf: the
//! `metadata_props` entries and the graph's input and output names. Every backend (and a build
//! without tract) needs the same answer before it loads the model, so this reads the wire format
//! itself (a few fields, no schema) rather than through one engine.
//!
//! ModelProto: graph = 7 (GraphProto), metadata_props = 14 (StringStringEntryProto: key = 1,
//! value = 2). GraphProto: input = 11, output = 12, initializer = 5 (TensorProto: name = 8)
//! (ValueInfoProto: name = 1). Older exporters list initializers among the inputs: those are not
//! inputs a caller feeds, so they are left out.

use std::collections::{HashMap, HashSet};

use crate::descriptor::Descriptor;

/// The parts of a model the descriptor lookup reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnnxIo {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub metadata: HashMap<String, String>,
}

impl OnnxIo {
    /// Whether the model's inputs and outputs include the tensors `d` names.
    pub fn names_match(&self, d: &Descriptor) -> bool {
        self.check_names(d).is_ok()
    }

    /// Each tensor name of `d` must be one of the model's; the error names the key.
    pub fn check_names(&self, d: &Descriptor) -> Result<(), String> {
        let mut wanted = vec![
            ("input.name", &d.input.name, &self.inputs),
            ("points.output", &d.points.output, &self.outputs),
        ];
        if let Some(s) = &d.score {
            wanted.push(("score.output", &s.output, &self.outputs));
        }
        for (key, name, have) in wanted {
            if !have.contains(name) {
                return Err(format!(
                    "{key} \"{name}\" is not in the model (it has {have:?})"
                ));
            }
        }
        Ok(())
    }
}

/// One field of a protobuf message.
enum Value<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a protobuf message, in order: (field number, value).
fn fields(mut buf: &[u8]) -> impl Iterator<Item = Result<(u64, Value<'_>), String>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let next = (|| {
            let key = varint(&mut buf)?;
            let value = match key & 7 {
                0 => varint(&mut buf).map(|_| Value::Varint)?,
                1 => skip(&mut buf, 8).map(|_| Value::Fixed)?,
                2 => {
                    let len = usize::try_from(varint(&mut buf)?)
                        .map_err(|_| "a length past the address space".to_string())?;
                    Value::Bytes(skip(&mut buf, len)?)
                }
                5 => skip(&mut buf, 4).map(|_| Value::Fixed)?,
                other => return Err(format!("wire type {other} is not protobuf's")),
            };
            Ok((key >> 3, value))
        })();
        if next.is_err() {
            buf = &[]; // stop after the first error
        }
        Some(next)
    })
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or("the file ends inside a varint")?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint longer than 10 bytes".into())
}

fn skip<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err("the file ends inside a field".into());
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// The string in field `number` of a message (the last one, as protobuf reads it).
fn string_field(msg: &[u8], number: u64) -> Result<Option<String>, String> {
    let mut found = None;
    for field in fields(msg) {
        if let (n, Value::Bytes(b)) = field? {
            if n == number {
                found = Some(String::from_utf8_lossy(b).into_owned());
            }
        }
    }
    Ok(found)
}

/// Reads the inputs, outputs and metadata of an ONNX model.
pub fn read(model: &[u8]) -> Result<OnnxIo, String> {
    let mut io = OnnxIo::default();
    let mut graph = None;
    for field in fields(model) {
        match field? {
            (7, Value::Bytes(g)) => graph = Some(g),
            (14, Value::Bytes(entry)) => {
                let key = string_field(entry, 1)?.unwrap_or_default();
                let value = string_field(entry, 2)?.unwrap_or_default();
                io.metadata.insert(key, value);
            }
            _ => {}
        }
    }
    let graph = graph.ok_or("it has no graph")?;
    let mut initializers = HashSet::new();
    let mut inputs = Vec::new();
    for field in fields(graph) {
        match field? {
            (5, Value::Bytes(t)) => {
                if let Some(name) = string_field(t, 8)? {
                    initializers.insert(name);
                }
            }
            (11, Value::Bytes(v)) => inputs.extend(string_field(v, 1)?),
            (12, Value::Bytes(v)) => io.outputs.extend(string_field(v, 1)?),
            _ => {}
        }
    }
    io.inputs = inputs
        .into_iter()
        .filter(|name| !initializers.contains(name))
        .collect();
    Ok(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DEFAULT_MODEL_ONNX;

    /// A length-delimited field.
    fn bytes_field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn the_bundled_model_has_the_bundled_names_and_no_descriptor_inside() {
        let io = read(DEFAULT_MODEL_ONNX).expect("reads");
        assert_eq!(io.inputs, vec!["input".to_string()]);
        assert_eq!(
            io.outputs,
            vec!["landmarks".to_string(), "face_score".to_string()]
        );
        assert!(!io.metadata.contains_key("lmbatch"), "{:?}", io.metadata);
    }

    #[test]
    fn metadata_props_and_io_names_are_read_from_the_wire() {
        let value_info = |name: &str| bytes_field(1, name.as_bytes());
        let mut graph = bytes_field(11, &value_info("pixels"));
        graph.extend(bytes_field(11, &value_info("weights")));
        graph.extend(bytes_field(5, &bytes_field(8, b"weights")));
        graph.extend(bytes_field(12, &value_info("points")));
        let mut entry = bytes_field(1, b"lmbatch");
        entry.extend(bytes_field(2, b"[input]"));
        // ir_version (varint) first, as exporters write it.
        let mut model = vec![0x08, 0x07];
        model.extend(bytes_field(7, &graph));
        model.extend(bytes_field(14, &entry));
        let io = read(&model).expect("reads");
        assert_eq!(
            io.inputs,
            vec!["pixels".to_string()],
            "initializers left out"
        );
        assert_eq!(io.outputs, vec!["points".to_string()]);
        assert_eq!(
            io.metadata.get("lmbatch").map(String::as_str),
            Some("[input]")
        );
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        assert!(read(b"").is_err(), "no graph");
        assert!(
            read(&[0x3a, 0x10, 0x01]).is_err(),
            "a field longer than the file"
        );
        assert!(read(&[0x08, 0x80]).is_err(), "a varint cut short");
        assert!(read(&[0x0f]).is_err(), "wire type 7");
        assert!(read(&[0x08; 3]).is_err());
    }
}
