//! Output of consumed messages: a kcat-style template (`%t %p %o %k %s %T %h %K %S`, with `\n`
//! and `\t` escapes), or one JSON object per message.

use std::io::Write;

use sluice_client::ConsumerRecord;

#[derive(Debug)]
enum Piece {
    Text(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Timestamp,
    Headers,
    KeySize,
    ValueSize,
}

#[derive(Debug)]
pub struct Template(Vec<Piece>);

impl Template {
    pub fn parse(text: &str) -> Template {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let piece = match (c, chars.peek().copied()) {
                ('%', Some(n)) => match n {
                    't' => Some(Piece::Topic),
                    'p' => Some(Piece::Partition),
                    'o' => Some(Piece::Offset),
                    'k' => Some(Piece::Key),
                    's' => Some(Piece::Value),
                    'T' => Some(Piece::Timestamp),
                    'h' => Some(Piece::Headers),
                    'K' => Some(Piece::KeySize),
                    'S' => Some(Piece::ValueSize),
                    '%' => {
                        literal.push(b'%');
                        chars.next();
                        continue;
                    }
                    _ => None,
                },
                ('\\', Some('n')) => {
                    literal.push(b'\n');
                    chars.next();
                    continue;
                }
                ('\\', Some('t')) => {
                    literal.push(b'\t');
                    chars.next();
                    continue;
                }
                _ => None,
            };
            match piece {
                Some(p) => {
                    chars.next();
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(p);
                }
                None => {
                    let mut buf = [0u8; 4];
                    literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Template(pieces)
    }

    pub fn write(&self, out: &mut impl Write, r: &ConsumerRecord) -> std::io::Result<()> {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.write_all(t)?,
                Piece::Topic => out.write_all(r.topic.as_bytes())?,
                Piece::Partition => write!(out, "{}", r.partition)?,
                Piece::Offset => write!(out, "{}", r.offset)?,
                Piece::Key => out.write_all(r.key.as_deref().unwrap_or_default())?,
                Piece::Value => out.write_all(r.value.as_deref().unwrap_or_default())?,
                Piece::Timestamp => write!(out, "{}", r.timestamp)?,
                Piece::Headers => {
                    for (i, (k, v)) in r.headers.iter().enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        out.write_all(k.as_bytes())?;
                        out.write_all(b"=")?;
                        out.write_all(v.as_deref().unwrap_or_default())?;
                    }
                }
                Piece::KeySize => write!(out, "{}", r.key.as_ref().map_or(-1, |k| k.len() as i64))?,
                Piece::ValueSize => write!(out, "{}", r.value.as_ref().map_or(-1, |v| v.len() as i64))?,
            }
        }
        Ok(())
    }
}

/// A message as JSON: strings where the bytes are UTF-8, null where absent.
pub fn json(r: &ConsumerRecord) -> serde_json::Value {
    let text = |b: &Option<bytes::Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    let headers: serde_json::Map<String, serde_json::Value> = r
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), text(v).map_or(serde_json::Value::Null, serde_json::Value::String)))
        .collect();
    serde_json::json!({
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": text(&r.key),
        "value": text(&r.value),
        "headers": headers,
    })
}
