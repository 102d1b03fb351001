;;; emacs_client.el --- a dap-mode session against kdap, for tests/e2e/test_emacs_client.py  -*- lexical-binding: t; -*-

;; emacs --batch -l tests/e2e/emacs_client.el   (not -Q: Debian adds dap-mode to load-path in site-start)
;;
;; Loads dap-mode and editor-configs/emacs/kdap.el as a user's init file would,
;; toggles a breakpoint in a buffer visiting main.go, starts the registered
;; "kdap: attach to a Go service" template (with the test's attach arguments)
;; through `dap-debug', sends an HTTP request to the service, waits for
;; `dap-stopped-hook', reads the active frame and a variable, continues, and
;; disconnects with `dap-disconnect'.  Everything comes from the environment:
;;
;;   KDAP_EL           editor-configs/emacs/kdap.el
;;   KDAP_BIN          the kdap executable       KDAP_LOG   its log file
;;   KDAP_ATTACH_JSON  the attach arguments (a JSON object)
;;   KDAP_SRC, KDAP_LINE                         where the breakpoint goes
;;   KDAP_HTTP_PORT, KDAP_HTTP_PATH              the request that hits it
;;   KDAP_EXPECT_VAR, KDAP_EXPECT_VALUE          a local and part of its value
;;   KDAP_STEP_TIMEOUT                           seconds per step (20)
;;
;; Prints one JSON object per line on stdout ({"step": ...}); the last line is
;; {"ok": true} or {"ok": false, "error": ...} (exit status 0 / 1).

;;; Code:

(require 'package)
(package-initialize)
(require 'json)
(require 'cl-lib)
(require 'dap-mode)
(require 'dap-ui)          ; dap-mode 0.7 needs it for exception filters
(load (getenv "KDAP_EL") nil t)

(defvar kt-timeout (string-to-number (or (getenv "KDAP_STEP_TIMEOUT") "20")))
(defvar kt-stopped nil)
(defvar kt-terminated nil)
(defvar kt-http-buffer nil)

(defun kt-report (step &rest kv)
  "Print STEP with the plist KV as one JSON line."
  (princ (concat (json-encode (append (list :step step) kv)) "\n")))

(defun kt-wait (what pred &optional timeout)
  "Process events until PRED is non-nil; fail naming WHAT after TIMEOUT s."
  (let ((deadline (+ (float-time) (or timeout kt-timeout))))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (or (funcall pred) (error "Timed out after %ss waiting for %s" (or timeout kt-timeout) what))))

(defun kt-request (session command &rest args)
  "A synchronous request on SESSION with a timeout."
  (let ((result nil))
    (dap--send-message (dap--make-request command args)
                       (lambda (res) (setq result (or res :finished)))
                       session)
    (kt-wait command (lambda () result))
    (cond ((eq result :finished) nil)
          ((not (gethash "success" result))
           (error "%s failed: %s" command (gethash "message" result)))
          (t (gethash "body" result)))))

(defun kt-http-get (port path)
  "Send GET PATH to 127.0.0.1:PORT without waiting; the answer lands in a buffer."
  (let* ((buf (generate-new-buffer " *kt-http*"))
         (proc (make-network-process :name "kt-http" :buffer buf :host "127.0.0.1"
                                     :service port :coding 'binary :noquery t)))
    (process-send-string proc (format "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" path))
    buf))

(defun kt-http-body (buf)
  (with-current-buffer buf
    (goto-char (point-min))
    (when (search-forward "\r\n\r\n" nil t)
      (string-trim (buffer-substring (point) (point-max))))))

(defun kt-attach-plist ()
  "The JSON attach arguments as a plist (nested objects too, arrays as vectors)."
  (json-parse-string (getenv "KDAP_ATTACH_JSON") :object-type 'plist :array-type 'array
                     :false-object :json-false :null-object nil))

(defun kt-main ()
  (let* ((src (getenv "KDAP_SRC"))
         (line (string-to-number (getenv "KDAP_LINE")))
         (port (string-to-number (getenv "KDAP_HTTP_PORT")))
         (path (getenv "KDAP_HTTP_PATH"))
         (attach (kt-attach-plist))
         ;; the template a user picks: a debugger that listens, or a workload in the cluster
         (tname (if (plist-get attach :target) "kdap: attach to a deployment in the cluster"
                  "kdap: attach to a Go service"))
         (template (cdr (assoc tname dap-debug-template-configurations)))
         (conf (copy-tree template))
         session)
    (unless template (error "kdap.el registered no %S template" tname))
    (kt-report "template" :name tname)
    (setq kdap-executable (getenv "KDAP_BIN")
          kdap-extra-args (list "--log" (getenv "KDAP_LOG") "--log-level" "debug"))
    ;; the user edits the template: these are the test's own attach arguments
    (cl-loop for (k v) on attach by #'cddr do (setq conf (plist-put conf k v)))
    (add-hook 'dap-stopped-hook (lambda (_s) (setq kt-stopped t)))
    (add-hook 'dap-terminated-hook (lambda (_s) (setq kt-terminated t)))

    ;; a breakpoint where a user puts it: in a buffer visiting the file
    (with-current-buffer (find-file-noselect src)
      (goto-char (point-min))
      (forward-line (1- line))
      (dap-breakpoint-toggle)
      (kt-report "breakpoint" :file src :line line
                 :count (length (gethash src (dap--get-breakpoints)))))

    (dap-debug conf)
    (setq session (dap--cur-session))
    (unless session (error "dap-debug started no session"))
    (kt-wait "the attach" (lambda () (eq (dap--debug-session-state session) 'running)))
    (kt-report "attached" :name (dap--debug-session-name session))

    ;; the breakpoint as kdap answered it (dap-mode keeps it per file)
    (kt-wait "a verified breakpoint"
             (lambda () (let ((bps (gethash src (dap--debug-session-breakpoints session))))
                          (and bps (cl-some (lambda (b) (gethash "verified" b)) bps)))))

    (setq kt-http-buffer (kt-http-get port path))
    (kt-wait "dap-stopped-hook" (lambda () kt-stopped))
    (kt-wait "the active frame" (lambda () (dap--debug-session-active-frame session)))
    (let* ((frame (dap--debug-session-active-frame session))
           (fpath (gethash "path" (gethash "source" frame)))
           (fline (gethash "line" frame))
           (fname (gethash "name" frame))
           (scopes (gethash "scopes" (kt-request session "scopes" :frameId (gethash "id" frame))))
           (locals (or (cl-find-if (lambda (s) (string-match-p "\\`[Ll]ocal" (gethash "name" s)))
                                   scopes)
                       (aref scopes 0)))
           (vars (gethash "variables" (kt-request session "variables" :variablesReference
                                                  (gethash "variablesReference" locals))))
           (var (cl-find-if (lambda (v) (equal (gethash "name" v) (getenv "KDAP_EXPECT_VAR")))
                            vars)))
      (kt-report "stopped" :thread (dap--debug-session-thread-id session)
                 :frame fname :file fpath :line fline)
      (unless (string-match-p "handle" fname) (error "Top frame is %s, not handle()" fname))
      (unless (equal fline line) (error "Stopped at line %s, not %s" fline line))
      (unless (equal (file-truename fpath) (file-truename src))
        (error "Stopped in %s, not %s" fpath src))
      (unless var (error "No local %s in %S" (getenv "KDAP_EXPECT_VAR")
                         (mapcar (lambda (v) (gethash "name" v)) vars)))
      (unless (string-match-p (regexp-quote (getenv "KDAP_EXPECT_VALUE")) (gethash "value" var))
        (error "%s = %s" (gethash "name" var) (gethash "value" var)))
      (kt-report "variable" :name (gethash "name" var) :value (gethash "value" var)))

    (dap-continue session (dap--debug-session-thread-id session))
    (kt-wait "the HTTP answer after continue"
             (lambda () (not (process-live-p (get-buffer-process kt-http-buffer)))))
    (let ((body (kt-http-body kt-http-buffer)))
      (unless (and body (string-match-p (regexp-quote path) body))
        (error "HTTP answer after continue: %S" body))
      (kt-report "continued" :body body))

    (let ((proc (dap--debug-session-proc session))
          (done nil))
      ;; the user's command; the advice only observes its response
      (advice-add 'dap--send-message :around
                  (lambda (orig msg cb s)
                    (funcall orig msg
                             (if (equal (plist-get msg :command) "disconnect")
                                 (lambda (res) (setq done t) (funcall cb res))
                               cb)
                             s))
                  '((name . kt-observe)))
      (dap-disconnect session)
      (kt-wait "the disconnect response" (lambda () done))
      (kt-report "disconnected")
      ;; kdap ends the session after the disconnect; if it has not exited yet, end its
      ;; stdin as Emacs does when the session is deleted
      (accept-process-output proc 0.5)
      (when (process-live-p proc) (process-send-eof proc))
      (kt-wait "kdap's exit" (lambda () (not (process-live-p proc))) 10)
      (unless (equal (process-exit-status proc) 0)
        (error "kdap exited with %s" (process-exit-status proc)))
      (kt-report "exit" :status (process-exit-status proc)
                 :terminated (if kt-terminated t :json-false)))))

(condition-case err
    (progn (kt-main)
           (princ "{\"ok\": true}\n")
           (kill-emacs 0))
  (error
   (princ (concat (json-encode (list :ok :json-false :error (error-message-string err))) "\n"))
   (kill-emacs 1)))

;;; emacs_client.el ends here
