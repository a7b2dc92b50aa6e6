"""Built-in table of well-known service ports, for systems without /etc/services.

Slim container images often ship no /etc/services, so ``getservbyname("https")``
fails there. :mod:`netkit.lookup` falls back to this table, written for netkit from
the IANA "Service Name and Transport Protocol Port Number Registry": the services a
program is likely to name, with their IANA names. One line per service: name, port,
protocols (``tcp``, ``udp`` or ``tcp/udp``), then optional aliases that also map to
the port but are never returned by a reverse lookup.
"""

from __future__ import annotations

__all__ = ["BY_NAME", "BY_PORT"]

_TABLE = """
tcpmux          1       tcp/udp
echo            7       tcp/udp
discard         9       tcp/udp     sink null
systat          11      tcp/udp     users
daytime         13      tcp/udp
netstat         15      tcp
qotd            17      tcp/udp     quote
chargen         19      tcp/udp     ttytst source
ftp-data        20      tcp/udp
ftp             21      tcp/udp
ssh             22      tcp/udp
telnet          23      tcp/udp
smtp            25      tcp/udp     mail
time            37      tcp/udp     timserver
nameserver      42      tcp/udp     name
whois           43      tcp/udp     nicname
tacacs          49      tcp/udp
domain          53      tcp/udp     dns
bootps          67      tcp/udp     dhcps
bootpc          68      tcp/udp     dhcpc
tftp            69      tcp/udp
gopher          70      tcp/udp
finger          79      tcp/udp
http            80      tcp/udp     www www-http
kerberos        88      tcp/udp     kerberos5 krb5 kerberos-sec
supdup          95      tcp
hostname        101     tcp         hostnames
iso-tsap        102     tcp         tsap
csnet-ns        105     tcp/udp     cso-ns
rtelnet         107     tcp/udp
pop2            109     tcp/udp     postoffice pop-2
pop3            110     tcp/udp     pop-3
sunrpc          111     tcp/udp     portmapper rpcbind
auth            113     tcp/udp     ident tap authentication
sftp            115     tcp/udp
nntp            119     tcp/udp     readnews untp
ntp             123     tcp/udp
epmap           135     tcp/udp     loc-srv
netbios-ns      137     tcp/udp
netbios-dgm     138     tcp/udp
netbios-ssn     139     tcp/udp
imap            143     tcp/udp     imap2 imap4
snmp            161     tcp/udp
snmptrap        162     tcp/udp     snmp-trap
cmip-man        163     tcp/udp
cmip-agent      164     tcp/udp
mailq           174     tcp/udp
xdmcp           177     tcp/udp
bgp             179     tcp/udp
irc             194     tcp/udp
smux            199     tcp/udp
at-rtmp         201     tcp/udp
at-nbp          202     tcp/udp
at-echo         204     tcp/udp
at-zis          206     tcp/udp
qmtp            209     tcp/udp
z39-50          210     tcp/udp     z3950 wais
ipx             213     tcp/udp
ptp-event       319     udp
ptp-general     320     udp
pawserv         345     tcp/udp
zserv           346     tcp/udp
rpc2portmap     369     tcp/udp
codaauth2       370     tcp/udp
ulistserv       372     tcp/udp
ldap            389     tcp/udp
svrloc          427     tcp/udp
https           443     tcp/udp
snpp            444     tcp/udp
microsoft-ds    445     tcp/udp
kpasswd         464     tcp/udp
submissions     465     tcp/udp     ssmtp smtps urd
saft            487     tcp/udp
gss-http        488     tcp/udp
isakmp          500     tcp/udp
rtsp            554     tcp/udp
nqs             607     tcp/udp
asf-rmcp        623     tcp/udp
qmqp            628     tcp/udp
ipp             631     tcp/udp
ldp             646     tcp/udp
exec            512     tcp
biff            512     udp         comsat
login           513     tcp
who             513     udp         whod
shell           514     tcp         cmd
syslog          514     udp
printer         515     tcp/udp     spooler
talk            517     tcp/udp
ntalk           518     tcp/udp
route           520     udp         router routed
gdomap          538     tcp/udp
uucp            540     tcp/udp     uucpd
klogin          543     tcp/udp
kshell          544     tcp/udp     krcmd
dhcpv6-client   546     tcp/udp
dhcpv6-server   547     tcp/udp
afpovertcp      548     tcp/udp
nntps           563     tcp/udp     snntp
submission      587     tcp/udp
ldaps           636     tcp/udp
tinc            655     tcp/udp
silc            706     tcp/udp
kerberos-adm    749     tcp/udp
domain-s        853     tcp/udp     dns-over-tls
rsync           873     tcp/udp
ftps-data       989     tcp/udp
ftps            990     tcp/udp
telnets         992     tcp/udp
imaps           993     tcp/udp
pop3s           995     tcp/udp
socks           1080    tcp/udp
openvpn         1194    tcp/udp
rmiregistry     1099    tcp/udp
ms-sql-s        1433    tcp/udp
ms-sql-m        1434    tcp/udp
ingreslock      1524    tcp/udp
pptp            1723    tcp/udp
radius          1812    tcp/udp
radius-acct     1813    tcp/udp     radacct
nfs             2049    tcp/udp
gnunet          2086    tcp/udp
rtcm-sc104      2101    tcp/udp
gsigatekeeper   2119    tcp/udp
gris            2135    tcp/udp
cvspserver      2401    tcp/udp
venus           2430    tcp/udp
iax             4569    tcp/udp
mtn             4691    tcp/udp
radmin-port     4899    tcp/udp
sip             5060    tcp/udp
sip-tls         5061    tcp/udp
xmpp-client     5222    tcp/udp     jabber-client
xmpp-server     5269    tcp/udp     jabber-server
cfengine        5308    tcp/udp
mdns            5353    tcp/udp
postgresql      5432    tcp/udp     postgres
amqp            5672    tcp/udp
x11             6000    tcp/udp     x11-0
ircu            6667    tcp/udp     ircd
http-alt        8080    tcp/udp     webcache
git             9418    tcp/udp
zope-ftp        8021    tcp
tproxy          8081    tcp
xmpp-bosh       5280    tcp
epmd            4369    tcp/udp
iscsi-target    3260    tcp/udp     iscsi
mysql           3306    tcp/udp
ms-wbt-server   3389    tcp/udp     rdp
svn             3690    tcp/udp     subversion
stun            3478    tcp/udp
nut             3493    tcp/udp
distcc          3632    tcp/udp
daap            3689    tcp/udp
rfb             5900    tcp/udp     vnc
zabbix-agent    10050   tcp/udp
zabbix-trapper  10051   tcp/udp
amanda          10080   tcp/udp
kamanda         10081   tcp/udp
memcache        11211   tcp/udp     memcached
bacula-dir      9101    tcp/udp
bacula-fd       9102    tcp/udp
bacula-sd       9103    tcp/udp
nbd             10809   tcp
mongodb         27017   tcp/udp     mongo
redis           6379    tcp
coap            5683    udp
coaps           5684    udp
mqtt            1883    tcp/udp
secure-mqtt     8883    tcp/udp     mqtts
ircs-u          6697    tcp
l2tp            1701    tcp/udp     l2f
ipsec-nat-t     4500    udp         nat-t-ike
hkp             11371   tcp/udp
puppet          8140    tcp
kerberos-iv     750     udp         kerberos4
"""


def _parse(text: str) -> tuple[dict[tuple[str, str], int], dict[tuple[int, str], str]]:
    by_name: dict[tuple[str, str], int] = {}
    by_port: dict[tuple[int, str], str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, port_text, protocols, *aliases = line.split()
        port = int(port_text)
        for protocol in protocols.split("/"):
            by_port.setdefault((port, protocol), name)
            for alias in (name, *aliases):
                by_name.setdefault((alias, protocol), port)
    return by_name, by_port


#: ``(name, protocol) -> port``, names and aliases in lower case.
#: ``(port, protocol) -> name``, the service's IANA name.
BY_NAME, BY_PORT = _parse(_TABLE)
