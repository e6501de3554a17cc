//! In-process nftables: `libnftables.so.1` (the library the `nft` program is built on),
//! opened at run time with `dlopen`. A ban then costs no process start — about a millisecond
//! instead of tens on a busy host — which is what lets `portolan detect --block` stop a fast
//! scanner after a handful of probes. [`Auto`] uses it when the library is installed and falls
//! back to the `nft` program otherwise.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use crate::nft::{Nft, NftBinary};
use crate::BlockError;

// SAFETY: the C signatures of libnftables.so.1 (include/nftables/libnftables.h); calling
// them is unsafe, each call below says why it is sound.
type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxInt = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxStr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;
type SetFlags = unsafe extern "C" fn(*mut c_void, c_uint);

/// `NFT_CTX_OUTPUT_JSON`.
const OUTPUT_JSON: c_uint = 1 << 4;

/// A libnftables context.
pub struct NftLib {
    lib: *mut c_void,
    ctx: *mut c_void,
    free: CtxFree,
    out: CtxStr,
    err: CtxStr,
    run: RunCmd,
    set_flags: SetFlags,
}

impl std::fmt::Debug for NftLib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NftLib")
    }
}

fn sym(lib: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: lib is a live handle from dlopen; name is NUL-terminated.
    let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

impl NftLib {
    /// Open `libnftables.so.1`; `None` when it is not installed (or lacks a function).
    pub fn open() -> Option<NftLib> {
        // SAFETY: a constant NUL-terminated name; RTLD_NOW resolves everything now.
        let lib = unsafe { libc::dlopen(c"libnftables.so.1".as_ptr(), libc::RTLD_NOW) };
        if lib.is_null() {
            return None;
        }
        let names = [
            c"nft_ctx_new",
            c"nft_ctx_free",
            c"nft_ctx_buffer_output",
            c"nft_ctx_buffer_error",
            c"nft_ctx_get_output_buffer",
            c"nft_ctx_get_error_buffer",
            c"nft_run_cmd_from_buffer",
            c"nft_ctx_output_set_flags",
        ];
        let mut p = Vec::with_capacity(names.len());
        for n in names {
            match sym(lib, n) {
                Some(s) => p.push(s),
                None => {
                    // SAFETY: lib came from dlopen and nothing of it is in use.
                    unsafe { libc::dlclose(lib) };
                    return None;
                }
            }
        }
        // SAFETY: these symbols have these C signatures in every libnftables.so.1
        // (include/nftables/libnftables.h).
        let (new, free, buf_out, buf_err, out, err, run, set_flags) = unsafe {
            (
                std::mem::transmute::<*mut c_void, CtxNew>(p[0]),
                std::mem::transmute::<*mut c_void, CtxFree>(p[1]),
                std::mem::transmute::<*mut c_void, CtxInt>(p[2]),
                std::mem::transmute::<*mut c_void, CtxInt>(p[3]),
                std::mem::transmute::<*mut c_void, CtxStr>(p[4]),
                std::mem::transmute::<*mut c_void, CtxStr>(p[5]),
                std::mem::transmute::<*mut c_void, RunCmd>(p[6]),
                std::mem::transmute::<*mut c_void, SetFlags>(p[7]),
            )
        };
        // SAFETY: NFT_CTX_DEFAULT (0); the context is freed in Drop.
        let ctx = unsafe { new(0) };
        if ctx.is_null() {
            // SAFETY: as above.
            unsafe { libc::dlclose(lib) };
            return None;
        }
        // SAFETY: ctx is live; buffering makes output and errors readable as strings.
        unsafe {
            buf_out(ctx);
            buf_err(ctx);
        }
        Some(NftLib {
            lib,
            ctx,
            free,
            out,
            err,
            run,
            set_flags,
        })
    }

    fn cmd(&mut self, text: &str, json: bool) -> Result<String, BlockError> {
        let c = CString::new(text).map_err(|_| BlockError::Nft {
            stderr: "a command holds a NUL byte".into(),
        })?;
        // SAFETY: ctx is live and used by this thread only (NftLib is not Send); the buffers
        // returned are NUL-terminated and valid until the next command, and copied at once.
        unsafe {
            (self.set_flags)(self.ctx, if json { OUTPUT_JSON } else { 0 });
            let rc = (self.run)(self.ctx, c.as_ptr());
            let read = |p: *const c_char| {
                if p.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            };
            let out = read((self.out)(self.ctx));
            let err = read((self.err)(self.ctx));
            if rc != 0 {
                return Err(BlockError::Nft {
                    stderr: crate::nft::short(&err),
                });
            }
            Ok(out)
        }
    }
}

impl Drop for NftLib {
    fn drop(&mut self) {
        // SAFETY: ctx and lib are live and dropped once; nothing uses them afterwards.
        unsafe {
            (self.free)(self.ctx);
            libc::dlclose(self.lib);
        }
    }
}

impl Nft for NftLib {
    fn run(&mut self, script: &str) -> Result<(), BlockError> {
        self.cmd(script, false).map(|_| ())
    }

    fn list_json_of(&mut self, what: &str) -> Result<Option<String>, BlockError> {
        match self.cmd(&format!("list {what}"), true) {
            Ok(s) => Ok(Some(s)),
            Err(BlockError::Nft { stderr }) if stderr.contains("No such file or directory") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// libnftables in process when installed, else the `nft` program.
#[derive(Debug)]
pub enum Auto {
    Lib(NftLib),
    Binary(NftBinary),
}

impl Auto {
    /// `program` is the nft program to fall back to; `None` forces the library when present.
    pub fn new(program: &std::path::Path) -> Auto {
        // an explicit program (not plain "nft") is a choice: honour it
        if program == std::path::Path::new("nft") {
            if let Some(l) = NftLib::open() {
                return Auto::Lib(l);
            }
        }
        Auto::Binary(NftBinary::new(program))
    }

    /// "libnftables" or "nft".
    pub fn name(&self) -> &'static str {
        match self {
            Auto::Lib(_) => "libnftables",
            Auto::Binary(_) => "nft",
        }
    }
}

impl Nft for Auto {
    fn run(&mut self, script: &str) -> Result<(), BlockError> {
        match self {
            Auto::Lib(l) => l.run(script),
            Auto::Binary(b) => b.run(script),
        }
    }
    fn list_json_of(&mut self, what: &str) -> Result<Option<String>, BlockError> {
        match self {
            Auto::Lib(l) => l.list_json_of(what),
            Auto::Binary(b) => b.list_json_of(what),
        }
    }
}
