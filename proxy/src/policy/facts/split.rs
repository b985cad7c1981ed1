//! A message into statements, each with its facts. The parser reads the whole message first;
//! when it rejects it, the message is cut at its top-level semicolons (by sqlparser's own
//! tokenizer, so quotes, dollar quotes and comments are respected) and each piece is parsed
//! alone, so one statement the parser does not know does not hide what the others do.
//!
//! A piece that still does not parse is `unparsed`, except for four statements whose first
//! keywords say all there is to know and that name no table: DO (its body is opaque anyway),
//! ALTER SYSTEM, CHECKPOINT and ABORT. Invariant: text the tokenizer rejects (an unterminated
//! string or comment) is one `unparsed` statement.
//!
//! Not here: a parsed statement's facts (`statement`).

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::StatementFacts;
use super::kind::{ObjectKind, StatementKind};
use super::names::Names;
use super::statement::{bare, facts, unparsed};

/// The facts of every statement of `text`, in order; none for an empty or comment-only text.
pub fn statements(text: &str, names: &Names) -> Vec<StatementFacts> {
    let dialect = PostgreSqlDialect {};
    match Parser::parse_sql(&dialect, text) {
        Ok(parsed) => parsed.iter().map(|s| facts(s, names)).collect(),
        Err(whole) => match Tokenizer::new(&dialect, text).tokenize_with_location() {
            Ok(tokens) => pieces(tokens)
                .into_iter()
                .flat_map(|piece| piece_facts(piece, names))
                .collect(),
            Err(_) => vec![unparsed(whole.to_string())],
        },
    }
}

/// The tokens between top-level semicolons; pieces with nothing but whitespace are dropped.
fn pieces(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut pieces = Vec::new();
    let mut piece = Vec::new();
    let mut depth = 0usize;
    for token in tokens {
        match token.token {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            Token::SemiColon if depth == 0 => {
                pieces.push(std::mem::take(&mut piece));
                continue;
            }
            _ => {}
        }
        piece.push(token);
    }
    pieces.push(piece);
    pieces.retain(|piece| piece.iter().any(|t| significant(&t.token)));
    pieces
}

fn piece_facts(piece: Vec<TokenWithSpan>, names: &Names) -> Vec<StatementFacts> {
    let dialect = PostgreSqlDialect {};
    let leading = leading_words(&piece);
    match Parser::new(&dialect)
        .with_tokens_with_locations(piece)
        .parse_statements()
    {
        Ok(parsed) => parsed.iter().map(|s: &Statement| facts(s, names)).collect(),
        Err(error) => vec![match recognised(&leading) {
            Some(kind) => bare(kind),
            None => unparsed(error.to_string()),
        }],
    }
}

/// The first two keywords (unquoted words, uppercased) of a piece.
fn leading_words(piece: &[TokenWithSpan]) -> Vec<String> {
    piece
        .iter()
        .filter(|t| significant(&t.token))
        .take(2)
        .map_while(|t| match &t.token {
            Token::Word(word) if word.quote_style.is_none() => {
                Some(word.value.to_ascii_uppercase())
            }
            _ => None,
        })
        .collect()
}

/// Statements sqlparser does not parse but whose kind their first keywords decide, and that
/// name no table or function blastwall could miss.
fn recognised(leading: &[String]) -> Option<StatementKind> {
    let first = leading.first()?.as_str();
    let second = leading.get(1).map(String::as_str);
    match (first, second) {
        ("DO", _) => Some(StatementKind::Do),
        ("ALTER", Some("SYSTEM")) => Some(StatementKind::Alter(ObjectKind::System)),
        ("CHECKPOINT", _) => Some(StatementKind::Other),
        ("ABORT", _) => Some(StatementKind::Transaction),
        _ => None,
    }
}

fn significant(token: &Token) -> bool {
    !matches!(token, Token::Whitespace(_) | Token::EOF)
}
