;;; kdap.el --- kdap debug provider for dap-mode  -*- lexical-binding: t; -*-

;; Load after dap-mode: (require 'dap-mode) (require 'dap-ui) (load "kdap.el").
;; dap-mode 0.7 needs dap-ui loaded or it errors on exception filters.
;; Set `kdap-executable' to your build/kdap if kdap is not on PATH.

;;; Code:

(require 'dap-mode)

(defvar kdap-executable "kdap"
  "Path to the kdap executable.")

(defvar kdap-extra-args nil
  "Extra arguments for kdap, e.g. (\"--log\" \"/tmp/kdap.log\").")

(defun kdap--populate (conf)
  "Start kdap over stdio for the session CONF."
  (plist-put conf :dap-server-path (cons kdap-executable kdap-extra-args))
  conf)

(dap-register-debug-provider "kdap" #'kdap--populate)

(dap-register-debug-template
 "kdap: attach to a Go service"
 (list :type "kdap" :request "attach" :name "kdap: attach to a Go service"
       :runtime "go" :connect "127.0.0.1:2345"
       :localRoot (expand-file-name default-directory) :remoteRoot "/src"))

(dap-register-debug-template
 "kdap: two services, one session"
 (list :type "kdap" :request "attach" :name "kdap: two services"
       :services (vector
                  (list :name "checkout" :runtime "go" :connect "127.0.0.1:2345")
                  (list :name "payments" :runtime "go" :connect "127.0.0.1:2346"))))

(provide 'kdap)
;;; kdap.el ends here
