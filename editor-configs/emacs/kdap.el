;;; kdap.el --- kdap debug provider and templates for dap-mode  -*- lexical-binding: t; -*-

;; kdap is a Debug Adapter Protocol server that puts the debuggers of several
;; services (delve for Go) into one debug session.  This file registers the
;; debug type "kdap" with dap-mode (kdap runs over stdio, one process per
;; session) and a few templates for `dap-debug'.
;;
;; Install (see README.md next to this file):
;;   (require 'dap-mode)
;;   (require 'dap-ui)      ; dap-mode 0.7 errors on exception filters without it
;;   (load "/path/to/kdap/editor-configs/emacs/kdap.el")
;;   (setq kdap-executable "/path/to/kdap/build/kdap")   ; unless kdap is on PATH
;; then M-x dap-debug and pick a "kdap: ..." template, or M-x dap-debug-edit-template
;; to copy one and fill in your services.

;;; Code:

(require 'dap-mode)

(defgroup kdap nil
  "kdap, one debug session for many services."
  :group 'dap-mode)

(defcustom kdap-executable "kdap"
  "The kdap executable: a file name, or a command found on `exec-path'."
  :type 'string :group 'kdap)

(defcustom kdap-extra-args nil
  "Extra arguments for kdap, e.g. (\"--log\" \"/tmp/kdap.log\" \"--log-level\" \"debug\")."
  :type '(repeat string) :group 'kdap)

(defun kdap--executable ()
  "The kdap executable to run, or a user error saying how to set it."
  (or (and (file-name-absolute-p kdap-executable)
           (file-executable-p kdap-executable)
           kdap-executable)
      (executable-find kdap-executable)
      (user-error "kdap: cannot run %S; set `kdap-executable' to your build/kdap"
                  kdap-executable)))

(defun kdap--populate (conf)
  "Complete CONF for dap-mode: kdap is started over stdio for the session."
  (unless (plist-get conf :request)
    (setq conf (plist-put conf :request "attach")))
  (plist-put conf :dap-server-path (cons (kdap--executable) kdap-extra-args)))

(dap-register-debug-provider "kdap" #'kdap--populate)

;; Keys are kdap's attach arguments (README.md, "Configuration"), written as
;; plist keywords: :services, :name, :runtime, :connect, :localRoot, :remoteRoot,
;; :substitutePath, :stopOnEntry, ...  A binary built on this machine needs no
;; path mapping; for one built elsewhere add :localRoot (your checkout) and
;; :remoteRoot (the path recorded in the binary).

(dap-register-debug-template
 "kdap: attach to a Go service"
 (list :type "kdap" :request "attach" :name "go service"
       :runtime "go" :connect "127.0.0.1:2345"))

(dap-register-debug-template
 "kdap: attach to a Go service built elsewhere (path mapping)"
 (list :type "kdap" :request "attach" :name "go service"
       :runtime "go" :connect "127.0.0.1:2345"
       :localRoot "/path/to/your/checkout" :remoteRoot "/src"))

(dap-register-debug-template
 "kdap: attach to a Python service"
 ;; a debugpy that listens: python -m debugpy --listen 127.0.0.1:5678 app.py
 (list :type "kdap" :request "attach" :name "python service"
       :runtime "python" :connect "127.0.0.1:5678"
       :pathMappings (vector (list :localRoot "/path/to/your/checkout"
                                   :remoteRoot "/app"))))

(dap-register-debug-template
 "kdap: attach to a deployment in the cluster"
 ;; kdap adds an ephemeral delve container (SYS_PTRACE only) to a pod of the
 ;; workload and tunnels to it; the cluster is the one kubectl uses, or
 ;; :kubeconfig / :context / :namespace.  kdap builds the debugger image from
 ;; your delve and pushes it to :imageRepo (or KDAP_IMAGE_REPO when unset), a
 ;; repository the cluster can pull from
 (list :type "kdap" :request "attach" :name "go-hello"
       :runtime "go" :target "deployment/go-hello"))

(dap-register-debug-template
 "kdap: two services, one session"
 (list :type "kdap" :request "attach" :name "checkout + payments"
       :services (vector
                  (list :name "checkout" :runtime "go" :connect "127.0.0.1:2345")
                  (list :name "payments" :runtime "go" :connect "127.0.0.1:2346"))))

(provide 'kdap)
;;; kdap.el ends here
