;; The `wasi-outbound-http` imports of the original krew-wasm plugins (wit-bindgen 0.1 canonical ABI,
;; rev f5eed0fb; derived in shared/reference/wasi-outbound-http/ABI-NOTES.md), implemented on top of
;; the component import krew-wasm:outbound-http/outbound-http@0.1.0 (wit/outbound-http.wit).
;;
;; This is a wit-component adapter: `pull` links it in beside the preview1 command adapter when a
;; core module imports `wasi-outbound-http`, so the plugin runs unmodified as a component and gets the
;; host of today's interface (policy, credentials, TLS) with nothing special on the host side.
;;
;; Why so little code: wit-component gives an adapter the MAIN module's linear memory (`env.memory`;
;; a component here has one memory) and lets it import the main module's exports (`__main_module__`).
;; Both functions take the same flat parameters in both ABIs (same order, same 16-byte header tuples,
;; 12-byte certificate records, option = tag,ptr,len), so parameters pass straight through. What the
;; host returns is lowered by the component runtime through this adapter's `cabi_import_realloc`,
;; which forwards to the plugin's own `canonical_abi_realloc`: every returned list and string is
;; allocated by the plugin's allocator, as the original host did, and the plugin owns and frees it;
;; nothing is copied. Only the shape of the result differs, and is rewritten in place:
;;   today (canonical ABI): result<T, http-error> at retptr: tag u8 @0, payload from @4 (natural layout)
;;   wit-bindgen 0.1:       the flattened values, one i32 per 8-byte slot: slot i at retptr + 8*i
;; The plugin's return area (a Rust guest's `static RET_AREA: [i64; 8]`, 64 bytes, 8-aligned) is larger
;; than today's results (32 bytes for `request`, 12 for `register-request-config`), so it serves as the
;; component call's return area too; every value is read before any slot is written.
;;
;; Empty lists keep the original host's pointer too: it called `canonical_abi_realloc(0, 0, align, 0)`,
;; which a wit-bindgen 0.1 guest answers with `align`; the canonical ABI lowers an empty list the same
;; way (jco: realloc(0, 0, align, 0); an empty string is pointer 1, no call), so nothing to fix here.
;;
;; One deliberate difference from passing through: `params` of a request are dropped. The original
;; krew-wasm host ignored them, so a legacy plugin's params never reached the server; they still
;; don't (today's interface would append them to the query).
(module
  (import "env" "memory" (memory 0))
  (import "__main_module__" "canonical_abi_realloc" (func $guest_realloc (param i32 i32 i32 i32) (result i32)))
  (import "krew-wasm:outbound-http/outbound-http@0.1.0" "request"
    (func $request (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "krew-wasm:outbound-http/outbound-http@0.1.0" "register-request-config"
    (func $register_request_config (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))

  ;; The realloc the component runtime uses for what the host returns: the plugin's allocator.
  (func (export "cabi_import_realloc") (param $old_ptr i32) (param $old_len i32) (param $align i32) (param $new_len i32) (result i32)
    (call $guest_realloc (local.get $old_ptr) (local.get $old_len) (local.get $align) (local.get $new_len)))

  ;; request: func(req: request, request-config-id: option<string>) -> expected<response, http-error>
  (func (export "request")
    (param $method i32) (param $uri_ptr i32) (param $uri_len i32)
    (param $headers_ptr i32) (param $headers_len i32)
    (param $params_ptr i32) (param $params_len i32)
    (param $body_tag i32) (param $body_ptr i32) (param $body_len i32)
    (param $cfg_tag i32) (param $cfg_ptr i32) (param $cfg_len i32)
    (param $ret i32)
    (local $status i32)
    (local $headers_tag i32) (local $resp_headers_ptr i32) (local $resp_headers_len i32)
    (local $resp_body_tag i32) (local $resp_body_ptr i32) (local $resp_body_len i32)
    (call $request
      (local.get $method) (local.get $uri_ptr) (local.get $uri_len)
      (local.get $headers_ptr) (local.get $headers_len)
      (i32.const 0) (i32.const 0) ;; params: ignored, as by the original host
      (local.get $body_tag) (local.get $body_ptr) (local.get $body_len)
      (local.get $cfg_tag) (local.get $cfg_ptr) (local.get $cfg_len)
      (local.get $ret))
    (if (i32.load8_u (local.get $ret))
      (then (call $store_error (local.get $ret)) (return)))
    ;; ok: response { status: u16 @4, headers: option<list> tag @8 ptr @12 len @16,
    ;;                body: option<list<u8>> tag @20 ptr @24 len @28 }
    (local.set $status (i32.load16_u offset=4 (local.get $ret)))
    (local.set $headers_tag (i32.load8_u offset=8 (local.get $ret)))
    (local.set $resp_headers_ptr (i32.load offset=12 (local.get $ret)))
    (local.set $resp_headers_len (i32.load offset=16 (local.get $ret)))
    (local.set $resp_body_tag (i32.load8_u offset=20 (local.get $ret)))
    (local.set $resp_body_ptr (i32.load offset=24 (local.get $ret)))
    (local.set $resp_body_len (i32.load offset=28 (local.get $ret)))
    (i32.store offset=0 (local.get $ret) (i32.const 0))
    (i32.store offset=8 (local.get $ret) (local.get $status))
    (i32.store offset=16 (local.get $ret) (local.get $headers_tag))
    (i32.store offset=24 (local.get $ret) (local.get $resp_headers_ptr))
    (i32.store offset=32 (local.get $ret) (local.get $resp_headers_len))
    (i32.store offset=40 (local.get $ret) (local.get $resp_body_tag))
    (i32.store offset=48 (local.get $ret) (local.get $resp_body_ptr))
    (i32.store offset=56 (local.get $ret) (local.get $resp_body_len)))

  ;; register-request-config: func(config: request-config, id: option<string>) -> expected<string, http-error>
  (func (export "register-request-config")
    (param $accept_invalid_hostnames i32) (param $accept_invalid_certificates i32)
    (param $certs_ptr i32) (param $certs_len i32)
    (param $identity_tag i32)
    (param $key_ptr i32) (param $key_len i32) (param $cert_ptr i32) (param $cert_len i32) (param $ca_ptr i32) (param $ca_len i32)
    (param $id_tag i32) (param $id_ptr i32) (param $id_len i32)
    (param $ret i32)
    (local $id_out_ptr i32) (local $id_out_len i32)
    (call $register_request_config
      (local.get $accept_invalid_hostnames) (local.get $accept_invalid_certificates)
      (local.get $certs_ptr) (local.get $certs_len)
      (local.get $identity_tag)
      (local.get $key_ptr) (local.get $key_len) (local.get $cert_ptr) (local.get $cert_len) (local.get $ca_ptr) (local.get $ca_len)
      (local.get $id_tag) (local.get $id_ptr) (local.get $id_len)
      (local.get $ret))
    (if (i32.load8_u (local.get $ret))
      (then (call $store_error (local.get $ret)) (return)))
    ;; ok: string ptr @4 len @8
    (local.set $id_out_ptr (i32.load offset=4 (local.get $ret)))
    (local.set $id_out_len (i32.load offset=8 (local.get $ret)))
    (i32.store offset=0 (local.get $ret) (i32.const 0))
    (i32.store offset=8 (local.get $ret) (local.get $id_out_ptr))
    (i32.store offset=16 (local.get $ret) (local.get $id_out_len)))

  ;; err: the http-error (u8 @4; same numbering in both ABIs) into slot 1, tag 1 into slot 0.
  (func $store_error (param $ret i32)
    (local $code i32)
    (local.set $code (i32.load8_u offset=4 (local.get $ret)))
    (i32.store offset=0 (local.get $ret) (i32.const 1))
    (i32.store offset=8 (local.get $ret) (local.get $code))))
