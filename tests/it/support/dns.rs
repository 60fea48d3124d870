//! A small authoritative DNS server over UDP on loopback: answers A and AAAA
//! from a fixed table, NXDOMAIN for anything else. Enough for a real resolver
//! (hickory, in troop) to get several addresses for one name.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use tokio::net::UdpSocket;

pub struct Dns {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn qname(packet: &[u8], mut i: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = *packet.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(packet.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    Some((labels.join("."), i))
}

fn answer(query: &[u8], records: &HashMap<String, Vec<IpAddr>>) -> Option<Vec<u8>> {
    let (name, end) = qname(query, 12)?;
    let qtype = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    let question = &query[12..end + 4];
    let known = records.get(&name);
    let ips: Vec<&IpAddr> = known
        .into_iter()
        .flatten()
        .filter(|ip| matches!((qtype, ip), (1, IpAddr::V4(_)) | (28, IpAddr::V6(_))))
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(&query[0..2]); // id
    let rd = query[2] & 0x01;
    out.push(0x84 | rd); // QR, AA, RD as asked
    out.push(if known.is_some() { 0x80 } else { 0x83 }); // RA; NXDOMAIN for unknown names
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for ip in ips {
        out.extend_from_slice(&[0xc0, 0x0c]); // pointer to the question's name
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        match ip {
            IpAddr::V4(v4) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.extend_from_slice(&16u16.to_be_bytes());
                out.extend_from_slice(&v6.octets());
            }
        }
    }
    Some(out)
}

impl Dns {
    pub async fn start(records: &[(&str, &[IpAddr])]) -> Dns {
        let table: HashMap<String, Vec<IpAddr>> =
            records.iter().map(|(n, ips)| (n.to_string(), ips.to_vec())).collect();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                if let Some(reply) = answer(&buf[..n], &table) {
                    let _ = sock.send_to(&reply, peer).await;
                }
            }
        });
        Dns { addr, task }
    }
}
