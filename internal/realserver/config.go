package realserver

import (
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"
)

// layout is every path and port the configuration files refer to.
type layout struct {
	TLS      tlsFiles
	LogDir   string
	MailRoot string // Maildir homes live here: MailRoot/USER/Maildir
	VmailUID int

	DovecotConf  string
	DovecotBase  string // Dovecot's base_dir: its sockets, including AuthSocket
	DovecotState string
	AuthSocket   string // Dovecot's SASL socket for Postfix
	UsersFile    string

	PostfixConfDir string
	PostfixQueue   string
	PostfixData    string

	NginxPrefix string
	NginxConf   string

	User     string
	Password string // goes only into the passwd-file
	Domain   string

	IMAP, IMAPS, POP3, POP3S, SMTP, SMTPS, HTTP, HTTPS int // ports on 127.0.0.1
}

// loginService is one of Dovecot's login services: its protocol, and its plain and
// implicit-TLS ports.
type loginService struct {
	Protocol   string
	Plain, TLS int
}

// LoginServices lists Dovecot's login services, IMAP and POP3: dovecotConf renders one
// block for each.
func (l *layout) LoginServices() []loginService {
	return []loginService{{"imap", l.IMAP, l.IMAPS}, {"pop3", l.POP3, l.POP3S}}
}

// configFile is a file rendered from a template over the layout.
type configFile struct {
	path string
	tmpl string // text/template source
	mode os.FileMode
}

// write renders the template with l into the file.
func (f configFile) write(l *layout) error {
	t, err := template.New(f.path).Option("missingkey=error").Parse(f.tmpl)
	if err != nil {
		return fmt.Errorf("template for %s: %w", f.path, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, l); err != nil {
		return fmt.Errorf("template for %s: %w", f.path, err)
	}
	if err := os.WriteFile(f.path, []byte(b.String()), f.mode); err != nil {
		return err
	}
	// Postfix waits, in steps of 300 ms, until its main.cf is at least two seconds old, in
	// case an editor is still writing it. Backdate every file so no server waits.
	old := time.Now().Add(-time.Hour)
	return os.Chtimes(f.path, old, old)
}

// dovecotConf: IMAP and POP3, each with a plain listener (STARTTLS/STLS offered) and an
// implicit-TLS one; plaintext LOGIN allowed, as Axigen allows it on its plain ports; one
// passwd-file user whose mail is MailRoot/USER/Maildir, owned by VmailUID; and an auth
// socket for Postfix's SASL. A failed login still waits auth_failure_delay (2 s), as in
// production, but the per-IP auth penalty (up to 15 s more for every later login from
// 127.0.0.1, failed or not) is off: it would make a test depend on the ones before it.
// The login services run in Dovecot's "high-performance" mode (service_count = 0, two
// processes kept ready): in the default mode every connection forks a login process that
// greets only once it has shaken hands with the auth process, and on a loaded 2-core CI
// machine, under the fault suite's stream of shim fallback connects, that pushed the
// banner past the suite's 400 ms probe timeout (a restarted daemon's first round failed).
// Listener blocks are one setting per line: Dovecot wants that.
const dovecotConf = `# Written by axprobe's internal/realserver for one test run.
base_dir = {{.DovecotBase}}
state_dir = {{.DovecotState}}
log_path = {{.LogDir}}/dovecot.log
instance_name = axprobe-test
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{{.TLS.Cert}}
ssl_key = <{{.TLS.Key}}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {{.VmailUID}}
last_valid_uid = {{.VmailUID}}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {{.UsersFile}}
}
userdb {
  driver = static
  args = uid={{.VmailUID}} gid={{.VmailUID}} home={{.MailRoot}}/%n
}
{{range .LoginServices}}service {{.Protocol}}-login {
  service_count = 0
  process_min_avail = 2
  inet_listener {{.Protocol}} {
    port = {{.Plain}}
  }
  inet_listener {{.Protocol}}s {
    port = {{.TLS}}
    ssl = yes
  }
}
{{end}}service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`

// postfixMain: accept mail for Domain over SMTP, deliver it with virtual(8) into the same
// Maildir Dovecot serves, relay nothing anywhere. STARTTLS is offered; AUTH (through
// Dovecot) only inside TLS, as production servers do.
const postfixMain = `# Written by axprobe's internal/realserver for one test run.
compatibility_level = 3.6
queue_directory = {{.PostfixQueue}}
data_directory = {{.PostfixData}}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {{.LogDir}}/postfix.log
maillog_file_prefixes = {{.LogDir}}
myhostname = mail.{{.Domain}}
mydomain = {{.Domain}}
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
relay_domains =
default_transport = error:this test server relays nothing
biff = no
# A service whose processes die at start is throttled for this long (default 60 s).
service_throttle_time = 1s
smtpd_banner = $myhostname ESMTP Postfix (axprobe test)
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_cert_file = {{.TLS.Cert}}
smtpd_tls_key_file = {{.TLS.Key}}
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {{.AuthSocket}}
virtual_mailbox_domains = {{.Domain}}
virtual_mailbox_base = {{.MailRoot}}
virtual_mailbox_maps = inline:{ {{.User}}@{{.Domain}}={{.User}}/Maildir/ }
virtual_uid_maps = static:{{.VmailUID}}
virtual_gid_maps = static:{{.VmailUID}}
virtual_minimum_uid = {{.VmailUID}}
`

// postfixMaster is a complete master.cf without chroot (the chroot would need a copy of
// /etc and the libraries). The two smtpd lines are the test listeners.
const postfixMaster = `# Written by axprobe's internal/realserver for one test run.
127.0.0.1:{{.SMTP}} inet n - n - - smtpd
127.0.0.1:{{.SMTPS}} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
pickup     unix n - n 60 1 pickup
cleanup    unix n - n - 0 cleanup
qmgr       unix n - n 300 1 qmgr
tlsmgr     unix - - n 1000? 1 tlsmgr
rewrite    unix - - n - - trivial-rewrite
bounce     unix - - n - 0 bounce
defer      unix - - n - 0 bounce
trace      unix - - n - 0 bounce
verify     unix - - n - 1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp       unix - - n - - smtp
relay      unix - - n - - smtp
showq      unix n - n - - showq
error      unix - - n - - error
retry      unix - - n - - error
discard    unix - - n - - discard
local      unix - n n - - local
virtual    unix - n n - - virtual
lmtp       unix - - n - - lmtp
anvil      unix - - n - 1 anvil
scache     unix - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
`

// nginxConf: one server on an HTTP and an HTTPS port standing in for Axigen WebMail. "/"
// answers 200 with the Axigen-like header and title, "/down" 503, "/moved" a 302 to "/".
const nginxConf = `# Written by axprobe's internal/realserver for one test run.
pid {{.NginxPrefix}}/nginx.pid;
error_log {{.LogDir}}/nginx-error.log info;
worker_processes 1;
events {
    worker_connections 64;
}
http {
    access_log {{.LogDir}}/nginx-access.log;
    client_body_temp_path {{.NginxPrefix}}/tmp/body;
    proxy_temp_path {{.NginxPrefix}}/tmp/proxy;
    fastcgi_temp_path {{.NginxPrefix}}/tmp/fastcgi;
    uwsgi_temp_path {{.NginxPrefix}}/tmp/uwsgi;
    scgi_temp_path {{.NginxPrefix}}/tmp/scgi;
    server_tokens off;
    default_type text/html;
    server {
        listen 127.0.0.1:{{.HTTP}};
        listen 127.0.0.1:{{.HTTPS}} ssl;
        ssl_certificate {{.TLS.Cert}};
        ssl_certificate_key {{.TLS.Key}};
        add_header ` + HeaderName + ` "` + HeaderValue + `" always;
        location = / {
            return 200 "<html><head><title>` + PageTitle + `</title></head><body>login</body></html>\n";
        }
        location = ` + PathDown + ` {
            return 503 "<html><body>maintenance</body></html>\n";
        }
        location = ` + PathRedirect + ` {
            return 302 /;
        }
    }
}
`
