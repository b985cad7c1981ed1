//! The PostgreSQL fixture against the machine's real server (feature `e2e`).
#![cfg(feature = "e2e")]

use std::process::Command;

use anyhow::Result;
use testkit::postgres::Cluster;

#[test]
fn a_cluster_answers_queries() -> Result<()> {
    let pg = Cluster::start()?;
    assert_eq!(pg.psql("postgres", "select 1")?, "1\n");
    assert_eq!(pg.host(), "127.0.0.1");
    assert_eq!(
        pg.psql("postgres", "show port")?.trim(),
        pg.port().to_string()
    );
    assert_eq!(
        pg.psql("postgres", "select current_user")?.trim(),
        pg.superuser()
    );
    Ok(())
}

#[test]
fn psql_reports_the_failing_statement() -> Result<()> {
    let pg = Cluster::start()?;
    let err = match pg.psql("postgres", "select 1; select no_such_column;") {
        Ok(out) => panic!("a bad statement succeeded with {out:?}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("no_such_column"), "{err}");
    Ok(())
}

#[test]
fn host_logins_need_the_password() -> Result<()> {
    let pg = Cluster::start()?;
    let login = |user: &str, password: &str| -> Result<bool> {
        let uri = format!(
            "postgresql://{user}:{password}@{}:{}/postgres",
            pg.host(),
            pg.port()
        );
        let out = Command::new(pg.bin_dir().join("psql"))
            .args(["-XAtq", "-c", "select current_user", "-d", &uri])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()?;
        Ok(out.status.success())
    };
    assert!(login(pg.superuser(), pg.password())?);
    assert!(login("blastwall", pg.password())?);
    assert!(!login("blastwall", "wrong")?);
    Ok(())
}
