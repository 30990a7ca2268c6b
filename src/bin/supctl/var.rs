//! `supctl var`: Nomad Variables written, read, listed and purged through
//! supd, which keeps them encrypted.

use super::{client_error, print_response};
use clap::Subcommand;
use std::process::ExitCode;
use supd::control::client::Connection;
use supd::control::protocol::Request;

#[derive(Subcommand)]
pub(super) enum VarCommand {
    /// Write the variable at PATH: its items are exactly the KEY=VALUE
    /// given (a value `-` is read from standard input). Templates that
    /// read it are rendered again.
    Put {
        path: String,
        #[arg(value_name = "KEY=VALUE", required = true)]
        items: Vec<String>,
        /// Only if the variable is at this modify index (0: only if it
        /// does not exist yet).
        #[arg(long)]
        check_index: Option<u64>,
    },
    /// Print the variable at PATH: its items, one KEY=VALUE per line
    /// (with --json, Nomad's document).
    Get {
        path: String,
        /// Print only this item's value.
        #[arg(long)]
        item: Option<String>,
    },
    /// List the variables' paths (under PREFIX), without their items.
    List { prefix: Option<String> },
    /// Remove the variable at PATH.
    Purge { path: String },
}

/// `supctl var …`.
pub(super) fn var(socket: &std::path::Path, command: VarCommand, json: bool) -> ExitCode {
    let request = match command {
        VarCommand::Put { path, items, check_index } => {
            let mut map = std::collections::BTreeMap::new();
            let mut stdin_used = false;
            for item in items {
                let Some((k, v)) = item.split_once('=') else {
                    eprintln!("supctl: {item:?} is not KEY=VALUE");
                    return ExitCode::from(2);
                };
                let v = if v == "-" && !stdin_used {
                    stdin_used = true;
                    let mut s = String::new();
                    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                        eprintln!("supctl: cannot read the value of {k} from standard input: {e}");
                        return ExitCode::from(1);
                    }
                    s.strip_suffix('\n').map(str::to_string).unwrap_or(s)
                } else {
                    v.to_string()
                };
                map.insert(k.to_string(), v);
            }
            Request::VarPut { path, items: map, cas: check_index }
        }
        VarCommand::Get { path, item } => {
            return match Connection::call(socket, Request::VarGet { path }) {
                Ok(r) if r.ok => {
                    let doc: serde_json::Value =
                        r.data.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
                    let items = doc["Items"].as_object().cloned().unwrap_or_default();
                    match item {
                        Some(k) => match items.get(&k).and_then(|v| v.as_str()) {
                            Some(v) => println!("{v}"),
                            None => {
                                eprintln!("supctl: the variable has no item {k:?}");
                                return ExitCode::from(1);
                            }
                        },
                        None if json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
                        None => {
                            for (k, v) in items {
                                println!("{k}={}", v.as_str().unwrap_or_default());
                            }
                        }
                    }
                    ExitCode::SUCCESS
                }
                Ok(r) => print_response(&r, json),
                Err(e) => client_error(e),
            };
        }
        VarCommand::List { prefix } => {
            return match Connection::call(socket, Request::VarList { prefix: prefix.unwrap_or_default() }) {
                Ok(r) if r.ok => {
                    let list: Vec<serde_json::Value> =
                        r.data.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
                    if json {
                        println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
                    } else {
                        for v in list {
                            println!("{}", v["Path"].as_str().unwrap_or_default());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Ok(r) => print_response(&r, json),
                Err(e) => client_error(e),
            };
        }
        VarCommand::Purge { path } => Request::VarPurge { path },
    };
    match Connection::call(socket, request) {
        Ok(r) => print_response(&r, json),
        Err(e) => client_error(e),
    }
}
