//! Checks of what agents send that every surface applies the same way: the platform enforces
//! them, and the MCP tools run them first so an infra agent hears of a mistake before a call.
//! Errors are the messages agents see.

use crate::limits::{MAX_EXPLANATION, MAX_RANKED, MAX_TAG};
use crate::types::{
    CapabilityResult, ExtractPayload, MatchPayload, MatchResult, VerificationResult,
};

/// One tag: 1-`MAX_TAG` letters, digits, `-` or `_`, starting with a letter or digit (nothing
/// that could split it in two where tags are stored).
pub fn tag(tag: &str) -> Result<(), String> {
    let well_formed = tag.len() <= MAX_TAG
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !well_formed {
        return Err(format!(
            "Invalid tag {tag:?}: a tag is 1-{MAX_TAG} characters (letters, digits, '-' or '_', \
             starting with a letter or digit)"
        ));
    }
    Ok(())
}

/// Tags as the platform keeps them: trimmed, lower-cased, each well-formed, each once, at most
/// `max`.
pub fn clean_tags(tags: &[String], max: usize) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_lowercase();
        tag(&t)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > max {
        return Err(format!(
            "At most {max} tags are allowed ({} given)",
            out.len()
        ));
    }
    Ok(out)
}

/// A match result: non-empty agent ids, each once, at most the payload's `max_ranked`, only
/// the payload's candidates (checked when the payload is known), and clean tags.
pub fn match_result(
    r: &MatchResult,
    payload: Option<&MatchPayload>,
) -> Result<MatchResult, String> {
    let mut ranked: Vec<String> = Vec::new();
    for id in &r.ranked_agents {
        if id.trim().is_empty() {
            return Err(format!("ranked_agents holds an empty agent id: {id:?}"));
        }
        if let Some(p) = payload
            && !p.candidates.iter().any(|c| &c.agent_id == id)
        {
            return Err(format!(
                "{id:?} is not one of the task's candidates: rank only their agent_ids"
            ));
        }
        if !ranked.contains(id) {
            ranked.push(id.clone());
        }
    }
    let max_ranked = payload.map_or(MAX_RANKED, |p| p.max_ranked.min(MAX_RANKED));
    if ranked.len() > max_ranked {
        return Err(format!("Rank at most {max_ranked} agents"));
    }
    let max_tags = payload.map_or(usize::MAX, |p| p.max_tags);
    Ok(MatchResult {
        ranked_agents: ranked,
        extracted_tags: clean_tags(&r.extracted_tags, max_tags)?,
    })
}

/// A verdict's explanation: not blank, at most `MAX_EXPLANATION` characters as stored.
pub fn verification(r: &VerificationResult) -> Result<(), String> {
    if r.explanation.trim().is_empty() || r.explanation.chars().count() > MAX_EXPLANATION {
        return Err(format!(
            "explanation must be 1-{MAX_EXPLANATION} characters: say why the result does or \
             does not meet the need"
        ));
    }
    Ok(())
}

/// Capability tags for the agent the task names (checked when the payload is known), clean.
pub fn capabilities(
    r: &CapabilityResult,
    payload: Option<&ExtractPayload>,
) -> Result<Vec<String>, String> {
    if r.agent_id.trim().is_empty() {
        return Err("agent_id is required: the agent the task names".into());
    }
    if let Some(p) = payload
        && p.agent_id != r.agent_id
    {
        return Err(format!(
            "agent_id must be {} (the agent this task is about), not {}",
            p.agent_id, r.agent_id
        ));
    }
    clean_tags(&r.tags, payload.map_or(usize::MAX, |p| p.max_tags))
}
