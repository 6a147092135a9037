//! [`SessionHandle`]: one session as [`Host::find`] found it, for the length of a request.

use std::sync::Arc;
use std::time::Duration;

use crate::error::SessionError;
use crate::events::SessionEvents;
use crate::host::Host;
use crate::id::SessionId;
use crate::info::SessionInfo;
use crate::reason::StopReason;
use crate::session::resolver;
use crate::session::state::Session;

/// One session, as [`Host::find`] found it: its operations do not look the ID up again, and
/// follow the session to its successor when it hibernates or moves to a new guest version
/// (see the resolver). Cheap to clone; meant to live for one request.
///
/// ```no_run
/// # async fn demo(host: sessionhost::Host, id: &str) -> Result<(), sessionhost::SessionError> {
/// if let Some(session) = host.find(id) {
///     let reply = session.call(br#"{"op":"get"}"#, None).await?;
///     session.touch()?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionHandle {
    host: Host,
    id: SessionId,
    /// The object last found serving this ID; `None` while the session is hibernated (the
    /// first operation that needs it wakes it).
    current: Arc<parking_lot::Mutex<Option<Arc<Session>>>>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// The session with this ID, if there is one — live, or hibernated (not woken by this:
    /// the first operation that needs it wakes it).
    pub fn find(&self, id: &str) -> Option<SessionHandle> {
        let live = self.env.registry.get_live(id);
        if live.is_none() && !resolver::exists(&self.env, id) {
            return None;
        }
        Some(SessionHandle {
            host: self.clone(),
            id: SessionId::parse(id).ok()?,
            current: Arc::new(parking_lot::Mutex::new(live)),
        })
    }
}

impl SessionHandle {
    /// The session's ID (its new one after [`rotate_id`](Self::rotate_id)).
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    fn current(&self) -> Option<Arc<Session>> {
        self.current.lock().clone()
    }

    fn remember(&self, session: Option<Arc<Session>>) {
        if let Some(session) = session {
            *self.current.lock() = Some(session);
        }
    }

    /// [`Host::call`] on this session.
    pub async fn call(
        &self,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, SessionError> {
        let (session, result) = self
            .host
            .call_at(&self.id, self.current(), request, timeout)
            .await;
        self.remember(session);
        result
    }

    /// [`Host::cast`] on this session.
    pub async fn cast(&self, message: &[u8]) -> Result<(), SessionError> {
        let (session, result) = self.host.cast_at(&self.id, self.current(), message).await;
        self.remember(session);
        result
    }

    /// [`Host::info`] on this session (not woken: `session_not_found` while it hibernates).
    pub fn info(&self) -> Result<SessionInfo, SessionError> {
        match self.current() {
            Some(session) if session.is_live() => Ok(session.info(&self.host.env)),
            _ => self.host.info(&self.id),
        }
    }

    /// [`Host::touch`] on this session: never wakes it.
    pub fn touch(&self) -> Result<(), SessionError> {
        if let Some(session) = self.current()
            && session.is_live()
            && session.touch_unless_retired(&self.host.env)
        {
            return Ok(());
        }
        resolver::touch(&self.host.env, &self.id)
    }

    /// [`Host::terminate_with`] on this session.
    pub async fn terminate_with(&self, reason: StopReason) -> Result<(), SessionError> {
        self.host
            .terminate_at(&self.id, self.current(), reason)
            .await
    }

    /// [`Host::rotate_id`] on this session; the handle follows it to its new ID.
    pub async fn rotate_id(&mut self) -> Result<&SessionId, SessionError> {
        let new = self.host.rotate_id_at(&self.id, self.current()).await?;
        self.id = new;
        Ok(&self.id)
    }

    /// [`Host::subscribe`] on this session, woken first if it is hibernated (subscribers
    /// watch a live instance, and a session with subscribers does not hibernate).
    pub async fn subscribe(&self) -> Result<SessionEvents, SessionError> {
        let env = &self.host.env;
        let (session, result) = resolver::on_session(env, &self.id, self.current(), |session| {
            std::future::ready(session.subscribe(&env.events))
        })
        .await?;
        self.remember(Some(session));
        result
    }
}
