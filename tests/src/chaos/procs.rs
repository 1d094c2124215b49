//! Signals to processes by id, a process's descendants, and its memory and
//! open files (from `/proc`): what the nemesis needs to pause or kill a
//! whole server, and what the soak and the feed benchmark sample.

/// `pid` and every process below it.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = parent(p) {
                parents.push((p, ppid));
            }
        }
    }
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let at = all[i];
        all.extend(parents.iter().filter(|(_, pp)| *pp == at).map(|(p, _)| *p));
        i += 1;
    }
    all
}

/// The parent of `pid` (field 4 of `/proc/{pid}/stat`, after the name,
/// which may hold spaces and parentheses).
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid we started (or its descendant).
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Whether `pid` is still a process (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// Resident memory of a process in KiB (`VmRSS`); 0 when it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Open file descriptors of a process; 0 when it is gone.
pub fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// Which end of a TCP socket a port is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The process's own: connections it accepted on a port it listens on.
    Local,
    /// The peer's: connections the process made to a server there.
    Remote,
}

/// TCP sockets a process holds with `port` at `end`, from
/// `/proc/<pid>/net/tcp{,6}` matched against its open files (a listening
/// socket counts as `Local`); 0 when it is gone.
pub fn sockets(pid: u32, end: End, port: u16) -> u64 {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: std::collections::HashSet<String> = fds
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let want = format!("{port:04X}");
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).ok())
        .map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    // sl local_address rem_address st tx:rx tr:when retr uid timeout inode
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    cols.len() > 9
                        && cols[if end == End::Local { 1 } else { 2 }]
                            .rsplit(':')
                            .next()
                            == Some(want.as_str())
                        && inodes.contains(cols[9])
                })
                .count() as u64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_heads_its_own_tree() {
        let me = std::process::id();
        assert!(alive(me));
        assert_eq!(tree(me).first(), Some(&me));
        assert!(parent(me).is_some());
    }

    #[test]
    fn a_process_s_connections_are_counted_by_the_port_at_either_end() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let me = std::process::id();
        assert_eq!(sockets(me, End::Remote, port), 0);
        assert_eq!(sockets(me, End::Local, port), 1, "the listener");
        let _a = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _b = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _accepted = listener.accept().expect("accept");
        assert_eq!(sockets(me, End::Remote, port), 2);
        assert_eq!(
            sockets(me, End::Local, port),
            2,
            "the listener and one accepted"
        );
    }
}
