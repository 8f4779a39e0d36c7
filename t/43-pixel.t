use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;
use IO::Socket::INET;
use IO::Select;
use Socket qw(inet_pton AF_INET AF_INET6);
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use Encode ();

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

# A short flush and dedupe window keep the test quick; the custom patterns and
# the class variable are what the classification cases below exercise; realip
# lets a request choose the address the view records.
my $EXTRA = join "\n    ",
    'sales_pixel_flush 20ms;',
    'sales_pixel_dedupe 3s;',
    'sales_pixel_ua bot "^EvilScanner";',
    'sales_pixel_ua human "TrustedProbe";',
    'sales_pixel_class bot $http_x_scanner;',
    'set_real_ip_from 127.0.0.1;',
    'real_ip_header X-Forwarded-For;';

my $t   = SalesTest->new(http_extra => $EXTRA);
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;
my $T   = JSON::PP::true;

my $CACHE   = 'no-store, no-cache, must-revalidate, max-age=0, private';
my $EXPIRES = 'Thu, 01 Jan 1970 00:00:01 GMT';
my $UA_TB   = 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0';
my $UA_CHR  = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
my $UA_GM   = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
my $UA_YH   = 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html';
my $UA_SCAN = 'curl/8.5.0';

# --- helpers -------------------------------------------------------------------------------------------------

sub tok { ref $_[0] ? $_[0]{token} : $_[0] }
sub uenc { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $s }
sub iso {
    my @g = gmtime shift;
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0];
}
# API call; a clock (epoch seconds) sets X-Sales-Test-Now, none leaves the real clock.
sub call {
    my ($method, $path, $who, $body, %o) = @_;
    my %h = %{ $o{headers} || {} };
    $h{'X-Sales-Test-Now'} = iso($o{clock}) if defined $o{clock};
    return ($o{inst} // $t)->api($method, $path, tok($who), $body, \%h);
}
sub items { my $j = $_[0]{json}; ref $j eq 'HASH' && ref $j->{items} eq 'ARRAY' ? $j->{items} : [] }

# One HTTP request on a fresh connection, read to the end: the exact bytes the server sent.
sub raw {
    my ($method, $path, $h, $body, $inst) = @_;
    $inst //= $t;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $inst->{port}, Timeout => 10)
        or return { status => 599, error => "connect: $!", headers => [], body => '' };
    binmode $s;
    my %h = ('User-Agent' => $UA_TB, %{ $h || {} });
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$inst->{port}\r\nConnection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for grep { defined $h{$_} } sort keys %h;
    $req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    $req .= "\r\n" . ($body // '');
    syswrite $s, $req;
    my $sel = IO::Select->new($s);
    my $resp = '';
    my $deadline = time + 15;
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, my $buf, 65536;
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    my ($head, $rest) = split /\r\n\r\n/, $resp, 2;
    my @lines = split /\r\n/, $head // '';
    my ($status) = (shift(@lines) // '') =~ m{^HTTP/1\.[01] (\d{3})};
    my @hdrs = map { /^([^:]+):\s*(.*)$/ ? [lc $1, $2] : () } @lines;
    return { status => $status // 599, headers => \@hdrs, body => $rest // '' };
}
sub hdrs { my ($r, $name) = @_; map { $_->[1] } grep { $_->[0] eq $name } @{ $r->{headers} } }
sub hdr  { join "\n", hdrs(@_) }

sub pixel_path { "/t/$_[0].gif" }
sub pix  { my ($tk, %h) = @_; raw(GET => pixel_path($tk), \%h) }

my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5, Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
sub http_date {
    my ($d, $m, $y, $H, $M, $S) = ($_[0] // '') =~ /^\w{3}, (\d\d) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/ or return undef;
    return exists $MON{$m} ? timegm($S, $M, $H, $d, $MON{$m}, $y) : undef;
}

my $GIF;

# What is wrong with a pixel answer (empty when it is the GIF with its headers).
sub gif_problems {
    my ($r, $head) = @_;
    my @p;
    push @p, "status $r->{status}" unless $r->{status} == 200;
    push @p, 'Content-Type ' . hdr($r, 'content-type') unless hdr($r, 'content-type') eq 'image/gif';
    push @p, 'Content-Length ' . hdr($r, 'content-length') unless hdr($r, 'content-length') eq '43';
    push @p, 'Cache-Control ' . hdr($r, 'cache-control') unless hdr($r, 'cache-control') eq $CACHE;
    push @p, 'Pragma ' . hdr($r, 'pragma') unless hdr($r, 'pragma') eq 'no-cache';
    my @exp = hdrs($r, 'expires');
    my $when = @exp == 1 ? http_date($exp[0]) : undef;
    push @p, "Expires @exp (not one past date)" unless defined $when && $when < time - 86400;
    push @p, "Expires $exp[0] (README: $EXPIRES)" if @exp == 1 && $exp[0] ne $EXPIRES;
    push @p, "has $_" for grep { hdrs($r, $_) } qw(last-modified etag set-cookie);
    push @p, 'Transfer-Encoding ' . hdr($r, 'transfer-encoding') if hdrs($r, 'transfer-encoding');
    if ($head) {
        push @p, 'HEAD answered a body of ' . length($r->{body}) . ' bytes' if length $r->{body};
    } else {
        push @p, 'body is not the empty_gif body (' . length($r->{body}) . ' bytes)'
            unless defined $GIF && $r->{body} eq $GIF;
    }
    return @p;
}
sub gif_ok {
    my ($r, $name, $head) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @p = gif_problems($r, $head);
    ok(!@p, "$name: the GIF and its headers") or diag(join "\n", @p);
}

# Rows of a query, through sqlite3's JSON mode.
sub sqlj {
    my $q = shift;
    my ($rc, $out, $err) = SalesTest::run_cmd(['sqlite3', '-json', '-cmd', '.timeout 10000', $t->{db}, $q]);
    if ($rc) { diag("sqlite3 failed ($rc) on '$q': $err"); return [] }
    return [] unless $out =~ /\S/;
    # A raw user agent need not be UTF-8: such output is read byte for byte.
    return eval { $J->decode($out) } // JSON::PP->new->decode($out) // [];
}
sub views {
    my ($pid, $rid) = @_;
    my $w = "proposal_id = $pid" . (defined $rid ? " and recipient_id = $rid" : '');
    return sqlj("select * from proposal_views where $w order by rowid");
}
sub nviews { my $w = shift // '1'; $t->sql("select count(*) from proposal_views where $w") // -1 }
sub recipient { sqlj("select * from proposal_recipients where id = $_[0]")->[0] || {} }

# Waits until $cond returns true (at most $secs), returns its last value.

# Outbox events of one type about a proposal (by subject, data.proposal.id or data.proposal_id).
sub events {
    my ($type, $pid) = @_;
    my $n = 0;
    for my $e (@{ sqlj("select subject_type, subject_id, payload from outbox where type = '$type' order by id") }) {
        my $p = eval { $J->decode($e->{payload}) } || {};
        my $d = ref $p->{data} eq 'HASH' ? $p->{data} : {};
        my $id = ref $d->{proposal} eq 'HASH' ? $d->{proposal}{id} : $d->{proposal_id};
        $n++ if (($e->{subject_type} // '') eq 'proposal' && ($e->{subject_id} // 0) == $pid) || ($id // 0) == $pid;
    }
    return $n;
}

sub stats {
    my $r = call(GET => '/pixel/stats', $adm);
    return ref $r->{json} eq 'HASH' ? $r->{json} : {};
}
sub delta {
    my ($from, $to) = @_;
    return { map { $_ => ($to->{$_} // 0) - ($from->{$_} // 0) } qw(views forged head) };
}

sub notes {
    my ($who, $q) = @_;
    my $r = call(GET => '/notifications' . ($q // ''), $who);
    return $r;
}
sub unread { my $r = notes($_[0]); ref $r->{json} eq 'HASH' ? $r->{json}{unread_count} // -1 : -1 }

sub getp {
    my ($id, $who) = @_;
    my $r = call(GET => "/proposals/$id", $who);
    return ref $r->{json} eq 'HASH' ? $r->{json} : {};
}

# --- data ----------------------------------------------------------------------------------------------------

# The same first records on any instance: proposal 1 is the first one made there.
sub world {
    my $inst = shift;
    my $root = $inst->{admin};
    my $mgr = $inst->user('manager');
    my $ae  = $inst->user('ae', manager_id => $mgr->{id});
    my $ae2 = $inst->user('ae');
    my $prod = must(call(POST => '/products', $root, { sku => 'ERP', name => 'Licenta ERP' }, inst => $inst), 201, 'product')->{id};
    my $pl = must(call(POST => '/price-lists', $root, { name => 'Standard', is_default => $T }, inst => $inst), 201, 'price list');
    must(call(POST => "/price-lists/$pl->{id}/items", $root, { product_id => $prod, unit_price_minor => 10000 }, inst => $inst), 201, 'item');
    my $cl = must(call(POST => '/clients', $ae, { name => 'Alfa SRL' }, inst => $inst), 201, 'client');
    my $op = must(call(POST => '/opportunities', $ae, { client_id => $cl->{id}, title => 'ERP', expected_close => '2027-06-30' },
                       inst => $inst), 201, 'opportunity');
    return { inst => $inst, mgr => $mgr, ae => $ae, ae2 => $ae2, product => $prod, opportunity => $op->{id} };
}
sub mkprop {
    my ($w, %o) = @_;
    return must(call(POST => '/proposals', $w->{ae}, { opportunity_id => $w->{opportunity},
                                                        lines => [{ product_id => $w->{product}, quantity => 2 }] },
                     inst => $w->{inst}, clock => $o{clock}), 201, 'proposal');
}
# Sends to addresses; answers [{id, token, email}] in order.
sub send_to {
    my ($w, $pid, $emails, %o) = @_;
    my $j = must(call(POST => "/proposals/$pid/send", $w->{ae}, { recipients => [map { { email => $_ } } @$emails] },
                      inst => $w->{inst}, clock => $o{clock}), 200, "send $pid");
    my %by = map { $_->{email} => $_ } @{ $j->{recipients} || [] };
    return [map {
        my $x = $by{$_} || {};
        my ($tk) = ($x->{pixel_url} // '') =~ m{/t/([A-Za-z0-9_-]+)\.gif$};
        { id => $x->{id}, email => $_, token => $tk // '' }
    } @$emails];
}

my $W   = world($t);
my $ae  = $W->{ae};
my $ae2 = $W->{ae2};
my $mgr = $W->{mgr};

my $P = mkprop($W);
my ($r1, $r2, $rip4, $rip6, $rlong, $rcut, $rbin) =
    @{ send_to($W, $P->{id}, [qw(achizitii@alfa.ro cfo@alfa.ro ip4@alfa.ro ip6@alfa.ro long@alfa.ro cut@alfa.ro bin@alfa.ro)]) };
my $S = mkprop($W);
my ($rsent) = @{ send_to($W, $S->{id}, ['scan@alfa.ro']) };
ok(length $r1->{token} && length $rsent->{token}, 'send answers pixel links') or BAIL_OUT('no pixel tokens');

# Views that are surely written: scanner hits on the sentinel proposal, on fresh
# connections. Once they are in the table and a few more flush intervals have
# passed, whatever came before them has been written too.
my $sentinels = 0;
sub settle {
    for (1 .. 4) { pix($rsent->{token}, 'User-Agent' => "$UA_SCAN sentinel"); $sentinels++ }
    my $ok = poll(sub { nviews("proposal_id = $S->{id}") >= $sentinels });
    diag("sentinel views not written: " . nviews("proposal_id = $S->{id}") . " of $sentinels") unless $ok;
    sleep 0.15;
    return $ok;
}

# --- the reference GIF -----------------------------------------------------------------------------------------
{
    my $r = raw(GET => '/empty.gif');
    is($r->{status}, 200, 'GET /empty.gif (nginx empty_gif) 200');
    is(length $r->{body}, 43, 'empty_gif is 43 bytes');
    $GIF = $r->{body} if $r->{status} == 200;
    like($GIF // '', qr/^GIF8[79]a/, 'it is a GIF');
}

# --- forged, malformed and missing tokens: the GIF, nothing recorded, counted ------------------------------------
my $tk = $r1->{token};
my $B64 = join '', 'A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_';
sub flip {
    my ($s, $i, $x) = @_;
    my $v = index($B64, substr($s, $i, 1));
    substr($s, $i, 1) = substr($B64, ($v ^ $x) & 63, 1);
    return $s;
}
sub rand_b64 { join '', map { substr($B64, int rand 64, 1) } 1 .. $_[0] }

# A token another server (another secret) made for ids that exist here too.
my $other;
{
    my $t2 = SalesTest->new;
    my $w2 = world($t2);
    my $p2 = mkprop($w2);
    my ($x) = @{ send_to($w2, $p2->{id}, ['achizitii@alfa.ro']) };
    is_deeply([$p2->{id}, $x->{id}], [$P->{id}, $r1->{id}], 'the other server signed the same proposal and recipient ids');
    $other = $x->{token};
    isnt($other, $tk, "the other server's token differs");
    $t2->stop;
}

my @forged;
push @forged, map { ["character $_ changed", flip($tk, $_, $_ == length($tk) - 1 ? 32 : 1)] } 0 .. length($tk) - 1;
push @forged, map { ["truncated to $_", substr($tk, 0, $_)] } grep { $_ > 0 } length($tk) - 1, length($tk) - 2, length($tk) - 4,
                                                                 int(length($tk) / 2), 1;
push @forged, ["another server's secret", $other];
push @forged, map { ["random base64url of $_", rand_b64($_)] } length($tk), length($tk), 22, 64;
my @malformed = (
    ['one character too many', $tk . 'A'],
    ['four characters too many', $tk . 'AAAA'],
    ['not base64', 'not*a*token'],
    ['percent-encoded bytes', '%ff%fe%41%3d'],
    ['dots', '...'],
    ['a long one', 'A' x 3000],
);
my @missing = (['no token', '/t/.gif'], ['nothing after /t/', '/t/'], ['no .gif', "/t/$tk"], ['another extension', "/t/$tk.png"]);

my $st0 = stats();
ok(exists $st0->{views} && exists $st0->{forged} && exists $st0->{head}, 'GET /pixel/stats answers views, forged, head')
    or diag($J->encode($st0));
my $rows0 = nviews();
for my $f (@forged) {
    gif_ok(pix($f->[1]), "forged token ($f->[0])");
}
settle();
is(nviews("proposal_id = $P->{id}"), 0, 'forged tokens record nothing');
is(nviews() - $rows0, $sentinels, 'only the sentinel views were written');
my $st1 = poll(sub { my $s = stats(); ($s->{forged} // 0) - ($st0->{forged} // 0) >= @forged ? $s : undef }) || stats();
is(delta($st0, $st1)->{forged}, scalar @forged, 'every forged token is counted once in /pixel/stats forged');
is(delta($st0, $st1)->{head}, 0, 'no HEAD counted');
is(delta($st0, $st1)->{views}, $sentinels, 'stats views count only the recorded views');

for my $f (@malformed) {
    gif_ok(pix($f->[1]), "malformed token ($f->[0])");
}
for my $f (@missing) {
    gif_ok(raw(GET => $f->[1]), "missing token ($f->[0]: $f->[1])");
}
settle();
is(nviews("proposal_id = $P->{id}"), 0, 'malformed and missing tokens record nothing');
my $st2 = poll(sub { my $s = stats(); ($s->{forged} // 0) - ($st1->{forged} // 0) >= @malformed + @missing ? $s : undef }) || stats();
is(delta($st1, $st2)->{forged}, @malformed + @missing, 'malformed and missing tokens are counted as refused');

# --- HEAD: the same headers, no body, nothing recorded ---------------------------------------------------------
{
    my $h = raw(HEAD => pixel_path($tk));
    gif_ok($h, 'HEAD with a genuine token', 1);
    my $g = raw(GET => pixel_path($forged[0][1]));
    is_deeply([map { [$_, hdr($h, $_)] } qw(content-type content-length cache-control pragma expires)],
              [map { [$_, hdr($g, $_)] } qw(content-type content-length cache-control pragma expires)],
              'HEAD answers the headers GET does');
    gif_ok(raw(HEAD => pixel_path($tk)), 'HEAD again', 1);
    gif_ok(raw(HEAD => pixel_path($tk), { 'User-Agent' => $UA_GM }), 'HEAD from an image proxy', 1);
    settle();
    is(nviews("proposal_id = $P->{id}"), 0, 'HEAD records no view');
    my $st3 = poll(sub { my $s = stats(); ($s->{head} // 0) - ($st2->{head} // 0) >= 3 ? $s : undef }) || stats();
    is(delta($st2, $st3)->{head}, 3, 'three HEADs counted in /pixel/stats head');
    is(delta($st2, $st3)->{forged}, 1, 'only the one forged GET counted as forged');
    gif_ok(raw(HEAD => pixel_path($forged[1][1])), 'HEAD with a forged token', 1);
    gif_ok(raw(HEAD => '/t/.gif'), 'HEAD without a token', 1);
    settle();
    is(nviews("proposal_id = $P->{id}"), 0, 'HEAD with a forged token records nothing');
    is(getp($P->{id}, $ae)->{status}, 'sent', 'the proposal is still sent');
    is(unread($ae), 0, 'no notification yet');
    is(events('proposal.viewed', $P->{id}), 0, 'no proposal.viewed event yet');
}

# --- other methods: 405, nothing recorded -----------------------------------------------------------------------
for my $m (qw(POST PUT DELETE PATCH)) {
    my $r = raw($m => pixel_path($tk), {}, $m eq 'DELETE' ? undef : 'x=1');
    is($r->{status}, 405, "$m on the pixel: 405");
}
settle();
is(nviews("proposal_id = $P->{id}"), 0, 'other methods record nothing');

# --- a genuine GET: one view, counted; repeats are duplicates -------------------------------------------------------
my $st4 = stats();
my $t_first = time;
my $g1 = pix($tk, 'User-Agent' => $UA_TB);
my @rep = map { pix($tk, 'User-Agent' => $UA_TB) } 1 .. 3;
gif_ok($g1, 'GET with a genuine token');
is(hdr($g1, 'expires'), $EXPIRES, "Expires is exactly '$EXPIRES'");
gif_ok($_, 'a repeat GET') for @rep;
ok(poll(sub { @{ views($P->{id}, $r1->{id}) } >= 4 }), 'the four GETs are written as four rows') or diag(nviews("proposal_id = $P->{id}"));
{
    my $v = views($P->{id}, $r1->{id});
    is(scalar @$v, 4, 'four rows for the recipient');
    my @counted = grep { $_->{counted} } @$v;
    my @dup = grep { $_->{duplicate} } @$v;
    is(scalar @counted, 1, 'one counted view');
    is(scalar @dup, 3, 'three duplicates');
    ok(!grep({ $_->{counted} && $_->{duplicate} } @$v), 'a duplicate is never counted');
    my $c = $counted[0] || {};
    is($c->{channel}, 'pixel', 'channel pixel');
    is($c->{recipient_id}, $r1->{id}, 'the recipient the token names');
    is($c->{proposal_id}, $P->{id}, 'the proposal the token names');
    is($c->{ip}, '127.0.0.0', 'the address truncated to its /24');
    is($c->{ua}, $UA_TB, 'the user agent');
    is($c->{class}, 'human', 'class human');
    ok(defined $c->{at} && length $c->{at}, 'the time of the view');
    ok(defined $c->{secs_since_sent} && $c->{secs_since_sent} >= 0 && $c->{secs_since_sent} <= 120,
       'seconds since sending: sent moments ago') or diag($c->{secs_since_sent} // 'undef');
    is_deeply([sort map { $_->{class} } @$v], [('human') x 4], 'duplicates keep their class');
    is_deeply([sort map { $_->{channel} } @$v], [('pixel') x 4], 'every row on the pixel channel');
}
ok(poll(sub { (getp($P->{id}, $ae)->{status} // '') eq 'viewed' }), 'the first counted view moves the proposal to viewed');
my $pv = getp($P->{id}, $ae);
ok(defined $pv->{first_viewed_at}, 'proposal first_viewed_at set');
ok(defined $pv->{last_viewed_at}, 'proposal last_viewed_at set');
is($pv->{view_count}, 1, 'proposal view_count 1 (duplicates count nothing)');
my $rv = recipient($r1->{id});
ok(defined $rv->{first_viewed_at} && defined $rv->{last_viewed_at}, 'recipient first and last viewed set');
is($rv->{view_count}, 1, 'recipient view_count 1');
is(recipient($r2->{id})->{view_count} // 0, 0, 'the other recipient has no views');
ok(poll(sub { unread($ae) == 1 }), 'the owner has one unread notification');
{
    my $n = notes($ae);
    is($n->{status}, 200, 'GET /notifications 200');
    my $it = items($n);
    is(scalar @$it, 1, 'one notification');
    my $x = $it->[0] || {};
    is($x->{type}, 'proposal.viewed', 'type proposal.viewed');
    is($x->{proposal_id}, $P->{id}, 'about the proposal');
    ok(length($x->{title} // ''), 'with a title');
    ok(defined $x->{id} && defined $x->{created_at}, 'id and created_at');
    ok(exists $x->{read_at} && !defined $x->{read_at}, 'read_at null');
}
is(events('proposal.viewed', $P->{id}), 1, 'one proposal.viewed event');
{
    my $e = eval { $J->decode(sqlj("select payload from outbox where type = 'proposal.viewed' order by id limit 1")->[0]{payload}) } || {};
    like($e->{id} // '', qr/^evt_/, 'the event has an evt_ id');
    is($e->{type}, 'proposal.viewed', 'its type');
    like($e->{timestamp} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'a UTC timestamp');
    ok(ref $e->{data} eq 'HASH', 'and data') or diag($J->encode($e));
}
{
    my $st5 = poll(sub { my $s = stats(); ($s->{views} // 0) - ($st4->{views} // 0) >= 4 ? $s : undef }) || stats();
    is(delta($st4, $st5)->{views}, 4, 'stats views counts the four recorded views (duplicates are recorded)');
}

# A different user agent is not a duplicate; another recipient counts too; one notification an hour.
gif_ok(pix($tk, 'User-Agent' => $UA_CHR), 'GET from another user agent');
gif_ok(pix($r2->{token}, 'User-Agent' => $UA_TB), 'GET from the second recipient');
ok(poll(sub { (getp($P->{id}, $ae)->{view_count} // 0) >= 3 }), 'proposal view_count grows to 3');
{
    my $v = views($P->{id}, $r1->{id});
    is(scalar @$v, 5, 'five rows for the first recipient');
    my ($chr) = grep { ($_->{ua} // '') eq $UA_CHR } @$v;
    ok($chr && $chr->{counted} && !$chr->{duplicate}, 'another user agent within the window: counted, not a duplicate');
    is(recipient($r1->{id})->{view_count}, 2, 'first recipient view_count 2');
    is(recipient($r2->{id})->{view_count}, 1, 'second recipient view_count 1');
    my $p = getp($P->{id}, $ae);
    is($p->{view_count}, 3, 'proposal view_count 3');
    is($p->{first_viewed_at}, $pv->{first_viewed_at}, 'first_viewed_at stays');
    is($p->{status}, 'viewed', 'still viewed');
}

# After the dedupe window the same recipient, address and agent count again.
my $wait = $t_first + 3.6 - time;
sleep $wait if $wait > 0;
my $last_before = recipient($r1->{id})->{last_viewed_at};
gif_ok(pix($tk, 'User-Agent' => $UA_TB), 'GET again after the dedupe window');
ok(poll(sub { (recipient($r1->{id})->{view_count} // 0) >= 3 }), 'counted again after the dedupe window');
{
    my $v = views($P->{id}, $r1->{id});
    is(scalar @$v, 6, 'six rows for the first recipient');
    my $last = $v->[-1] || {};
    is_deeply([$last->{counted} ? 1 : 0, $last->{duplicate} ? 1 : 0], [1, 0], 'the newest row: counted, not a duplicate');
    is(recipient($r1->{id})->{view_count}, 3, 'first recipient view_count 3');
    cmp_ok(recipient($r1->{id})->{last_viewed_at} // 0, '>', $last_before // 0, 'recipient last_viewed_at moves forward');
    is(getp($P->{id}, $ae)->{view_count}, 4, 'proposal view_count 4');
    is(recipient($r1->{id})->{first_viewed_at}, $rv->{first_viewed_at}, 'recipient first_viewed_at stays');
}
settle();
is(unread($ae), 1, 'still one notification within the hour');
is(scalar @{ items(notes($ae)) }, 1, 'one notification in the list');
is(events('proposal.viewed', $P->{id}), 1, 'still one proposal.viewed event');

# --- what the view records: addresses, long agents ---------------------------------------------------------------
gif_ok(pix($rip4->{token}, 'User-Agent' => $UA_SCAN, 'X-Forwarded-For' => '203.0.113.77'), 'GET from 203.0.113.77');
gif_ok(pix($rip6->{token}, 'User-Agent' => $UA_SCAN, 'X-Forwarded-For' => '2001:db8:abcd:12:34::1'), 'GET from an IPv6 address');
my $long = "$UA_SCAN " . ('x' x 400);
gif_ok(pix($rlong->{token}, 'User-Agent' => $long), 'GET with a 411-byte user agent');
ok(poll(sub { @{ views($P->{id}, $rlong->{id}) } && @{ views($P->{id}, $rip6->{id}) } && @{ views($P->{id}, $rip4->{id}) } }),
   'the three views are written');
is((views($P->{id}, $rip4->{id})->[0] || {})->{ip}, '203.0.113.0', 'IPv4 truncated to /24 (203.0.113.0)');
{
    my $ip = (views($P->{id}, $rip6->{id})->[0] || {})->{ip} // '';
    my $bin = $ip =~ /:/ ? inet_pton(AF_INET6, $ip) : undef;
    ok(defined $bin && $bin eq inet_pton(AF_INET6, '2001:db8:abcd::'), "IPv6 truncated to /48 ($ip)");
}
{
    my $u = (views($P->{id}, $rlong->{id})->[0] || {})->{ua} // '';
    is(length $u, 256, 'the user agent is cut to 256 bytes');
    is($u, substr($long, 0, 256), 'its first 256 bytes');
}
is(recipient($rip4->{id})->{view_count} // 0, 0, 'scanner hits count nothing on the recipient');

# User agents as bytes: one whose 256th byte falls inside a UTF-8 character, one that is not UTF-8.
my $CUT = "$UA_SCAN " . ('a' x 244) . "\xc3\xa9" . 'zz';
gif_ok(pix($rcut->{token}, 'User-Agent' => $CUT), 'GET with a character across byte 256');
gif_ok(pix($rbin->{token}, 'User-Agent' => "$UA_SCAN \xff\xfe"), 'GET with a user agent that is not UTF-8');
ok(poll(sub { @{ views($P->{id}, $rcut->{id}) } && @{ views($P->{id}, $rbin->{id}) } }), 'both written');

# --- classification: views that do not count -----------------------------------------------------------------------
my @nocount = (
    ['bare Mozilla/5.0 right after sending', { 'User-Agent' => 'Mozilla/5.0' }, 'prefetch'],
    ['curl',                                 { 'User-Agent' => 'curl/8.5.0' }, 'bot'],
    ['wget',                                 { 'User-Agent' => 'Wget/1.21.3' }, 'bot'],
    ['python-requests',                      { 'User-Agent' => 'python-requests/2.31.0' }, 'bot'],
    ['Python-urllib',                        { 'User-Agent' => 'Python-urllib/3.11' }, 'bot'],
    ['Go-http-client',                       { 'User-Agent' => 'Go-http-client/1.1' }, 'bot'],
    ['Barracuda Sentinel',                   { 'User-Agent' => 'Mozilla/5.0 (compatible; Barracuda Sentinel)' }, 'bot'],
    ['headless Chrome',                      { 'User-Agent' => 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36' }, 'bot'],
    ['Googlebot',                            { 'User-Agent' => 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }, 'bot'],
    ['sales_pixel_ua bot "^EvilScanner"',    { 'User-Agent' => 'EvilScanner/3.1 (+https://scanner.invalid)' }, 'bot'],
    ['the custom pattern is case-insensitive', { 'User-Agent' => 'evilscanner/3.1' }, 'bot'],
    ['sales_pixel_class: X-Scanner: 1',      { 'User-Agent' => $UA_TB, 'X-Scanner' => '1' }, 'bot'],
    ['sales_pixel_class: X-Scanner: yes',    { 'User-Agent' => $UA_GM, 'X-Scanner' => 'yes' }, 'bot'],
);
my $PB = mkprop($W);
my $rb = send_to($W, $PB->{id}, [map { "nc$_\@alfa.ro" } 1 .. @nocount]);
for my $i (0 .. $#nocount) {
    gif_ok(pix($rb->[$i]{token}, %{ $nocount[$i][1] }), "GET: $nocount[$i][0]");
}
ok(poll(sub { nviews("proposal_id = $PB->{id}") >= @nocount }), 'the views that do not count are recorded');
for my $i (0 .. $#nocount) {
    my $v = views($PB->{id}, $rb->[$i]{id});
    is(scalar @$v, 1, "$nocount[$i][0]: one row");
    is(($v->[0] || {})->{class}, $nocount[$i][2], "$nocount[$i][0]: class $nocount[$i][2]");
    ok(!($v->[0] || {})->{counted}, "$nocount[$i][0]: not counted");
}
settle();
{
    my $p = getp($PB->{id}, $ae);
    is($p->{status}, 'sent', 'prefetch and bot views leave the proposal sent');
    ok(!defined $p->{first_viewed_at}, 'no first_viewed_at');
    is($p->{view_count} // 0, 0, 'view_count 0');
    is($t->sql("select coalesce(sum(view_count),0) from proposal_recipients where proposal_id = $PB->{id}"), 0,
       'no recipient view_count');
    is(events('proposal.viewed', $PB->{id}), 0, 'no proposal.viewed event');
    is(unread($ae), 1, 'no new notification');
}

# --- classification: views that count --------------------------------------------------------------------------------
my @count = (
    ['Gmail image proxy',                 { 'User-Agent' => $UA_GM }, 'proxy'],
    ['Yahoo Mail proxy',                  { 'User-Agent' => $UA_YH }, 'proxy'],
    ['Thunderbird',                       { 'User-Agent' => $UA_TB }, 'human'],
    ['Apple Mail (not a bare Mozilla/5.0)', { 'User-Agent' => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)' }, 'human'],
    ['Outlook desktop',                   { 'User-Agent' => 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)' }, 'human'],
    ['X-Scanner: 0 is no class',          { 'User-Agent' => $UA_CHR, 'X-Scanner' => '0' }, 'human'],
    ['sales_pixel_ua human before the defaults', { 'User-Agent' => 'curl/8.5.0 TrustedProbe' }, 'human'],
);
my $PC = mkprop($W);
my $rcn = send_to($W, $PC->{id}, [map { "c$_\@alfa.ro" } 1 .. @count]);
for my $i (0 .. $#count) {
    gif_ok(pix($rcn->[$i]{token}, %{ $count[$i][1] }), "GET: $count[$i][0]");
}
ok(poll(sub { nviews("proposal_id = $PC->{id}") >= @count }), 'the counted views are recorded');
for my $i (0 .. $#count) {
    my $v = views($PC->{id}, $rcn->[$i]{id});
    is(scalar @$v, 1, "$count[$i][0]: one row");
    is(($v->[0] || {})->{class}, $count[$i][2], "$count[$i][0]: class $count[$i][2]");
    ok(($v->[0] || {})->{counted}, "$count[$i][0]: counted");
    is(recipient($rcn->[$i]{id})->{view_count}, 1, "$count[$i][0]: recipient view_count 1");
}
ok(poll(sub { (getp($PC->{id}, $ae)->{view_count} // 0) >= @count }), 'proposal view_count counts every open');
is(getp($PC->{id}, $ae)->{status}, 'viewed', 'viewed');
ok(poll(sub { unread($ae) == 2 }), 'one more notification, for this proposal');
settle();
is(unread($ae), 2, 'one notification for several opens within the hour');
is(events('proposal.viewed', $PC->{id}), 1, 'one proposal.viewed event');

# --- the prefetch window is measured from when the recipient was sent ------------------------------------------------
my $hour_ago = int(time) - 3600;
my $PL = mkprop($W, clock => $hour_ago);
my ($rold) = @{ send_to($W, $PL->{id}, ['old@alfa.ro'], clock => $hour_ago) };
my ($rnew) = @{ send_to($W, $PL->{id}, ['new@alfa.ro']) };
gif_ok(pix($rold->{token}, 'User-Agent' => 'Mozilla/5.0'), 'bare Mozilla/5.0, sent an hour ago');
gif_ok(pix($rnew->{token}, 'User-Agent' => 'Mozilla/5.0'), 'bare Mozilla/5.0, sent just now');
ok(poll(sub { nviews("proposal_id = $PL->{id}") >= 2 }), 'both written');
{
    my $o = views($PL->{id}, $rold->{id})->[0] || {};
    my $n = views($PL->{id}, $rnew->{id})->[0] || {};
    is($o->{class}, 'human', 'outside the prefetch window: human');
    ok($o->{counted}, 'and counted');
    ok(($o->{secs_since_sent} // 0) >= 3590 && ($o->{secs_since_sent} // 0) <= 3720,
       'seconds since that recipient was sent: about an hour') or diag($o->{secs_since_sent} // 'undef');
    is($n->{class}, 'prefetch', 'within the window: prefetch');
    ok(!$n->{counted}, 'not counted');
    ok(defined $n->{secs_since_sent} && $n->{secs_since_sent} >= 0 && $n->{secs_since_sent} <= 120,
       'seconds since the later send: moments') or diag($n->{secs_since_sent} // 'undef');
}
ok(poll(sub { unread($ae) == 3 }), 'the human open notifies');

# --- GET /proposals/{id}/views ------------------------------------------------------------------------------------------
sub views_api {
    my ($pid, $who, $q) = @_;
    return call(GET => "/proposals/$pid/views" . ($q // ''), $who);
}
# The per-class counts of filtered views, under whatever name holds them.
sub filtered {
    my $j = shift;
    return undef unless ref $j eq 'HASH';
    for my $k (grep { /filter/i } sort keys %$j) {
        return $j->{$k} if ref $j->{$k} eq 'HASH';
    }
    return ref $j->{summary} eq 'HASH' && ref $j->{summary}{filtered} eq 'HASH' ? $j->{summary}{filtered} : undef;
}
# The summary entry of a recipient (a list of objects or an object by id).
sub summary_of {
    my ($j, $rid) = @_;
    my $s = ref $j eq 'HASH' ? $j->{summary} : undef;
    if (ref $s eq 'ARRAY') {
        my ($x) = grep { ref $_ eq 'HASH' && ($_->{recipient_id} // $_->{id} // 0) == $rid } @$s;
        return $x;
    }
    if (ref $s eq 'HASH') {
        return $s->{$rid} if ref $s->{$rid} eq 'HASH';
        my $rs = $s->{recipients};
        if (ref $rs eq 'ARRAY') {
            my ($x) = grep { ref $_ eq 'HASH' && ($_->{recipient_id} // $_->{id} // 0) == $rid } @$rs;
            return $x;
        }
    }
    return undef;
}
{
    my $r = views_api($P->{id}, $ae, '?limit=200');
    is($r->{status}, 200, 'GET /proposals/{id}/views 200') or diag($r->{content});
    my $it = items($r);
    my $db = views($P->{id});
    is(scalar @$it, scalar @$db, 'as many items as recorded views');
    my @at = map { $_->{at} // '' } @$it;
    my @sorted = sort { $b cmp $a } @at;
    is_deeply(\@at, \@sorted, 'newest first');
    my %dbc;
    $dbc{ join '|', $_->{recipient_id}, $_->{channel}, $_->{class} }++ for @$db;
    my %apic;
    $apic{ join '|', $_->{recipient_id} // '', $_->{channel} // '', $_->{class} // '' }++ for @$it;
    is_deeply(\%apic, \%dbc, 'items carry recipient_id, channel and class as recorded');
    my $s1 = summary_of($r->{json}, $r1->{id});
    ok($s1, 'a summary for the first recipient') or diag($r->{content});
    is(($s1 || {})->{view_count}, 3, 'summary: first recipient view_count 3');
    is((summary_of($r->{json}, $r2->{id}) || {})->{view_count}, 1, 'summary: second recipient view_count 1');
    my $f = filtered($r->{json});
    ok($f, 'the filtered-out counts per class') or diag($r->{content});
    is(($f || {})->{bot} // 0, 5, 'filtered: five bot views');
    my ($cut) = grep { ($_->{recipient_id} // 0) == $rcut->{id} } @$it;
    my $cu = defined(($cut || {})->{ua}) ? Encode::encode_utf8($cut->{ua}) : undef;
    ok(defined $cu && length($cu) >= 255 && length($cu) <= 256 && index($CUT, $cu) == 0,
       'the views list shows a user agent cut inside a character as its valid UTF-8 prefix')
        or diag(defined $cu ? "ua: $cu" : 'no ua in ' . $J->encode($cut || {}));
    my ($bin) = grep { ($_->{recipient_id} // 0) == $rbin->{id} } @$it;
    ok(exists(($bin || {})->{ua}), 'an item whose user agent is not UTF-8 still has a ua field') or diag($J->encode($bin || {}));
    is(($f || {})->{prefetch} // 0, 0, 'filtered: no prefetch');

    my (@all, $cursor);
    for my $page (1 .. 20) {
        my $pg = views_api($P->{id}, $ae, '?limit=2' . (defined $cursor ? '&cursor=' . uenc($cursor) : ''));
        is($pg->{status}, 200, "page $page of the views") or last;
        my $pi = items($pg);
        ok(@$pi <= 2, 'at most limit items');
        push @all, @$pi;
        $cursor = ref $pg->{json} eq 'HASH' ? $pg->{json}{next_cursor} : undef;
        last unless defined $cursor;
    }
    is(scalar @all, scalar @$it, 'limit and cursor walk every view once');
    is_deeply([map { $_->{at} // '' } @all], \@at, 'in the same order');
}
{
    my $r = views_api($PB->{id}, $ae);
    is($r->{status}, 200, 'views of the unopened proposal 200');
    my $f = filtered($r->{json}) || {};
    is($f->{bot} // 0, scalar(grep { $_->[2] eq 'bot' } @nocount), 'filtered: every bot view');
    is($f->{prefetch} // 0, 1, 'filtered: the prefetch');
}
problem(views_api($P->{id}, $ae2), 404, 'not-found', "another AE cannot see the views");
problem(views_api(999999, $ae), 404, 'not-found', 'views of an unknown proposal');
is(views_api($P->{id}, $mgr)->{status}, 200, "the AE's manager sees the views");
is(views_api($P->{id}, $adm)->{status}, 200, 'an admin sees the views');

# --- notifications --------------------------------------------------------------------------------------------------
{
    my $all = items(notes($ae));
    is(scalar @$all, 3, 'three notifications for the owner');
    is_deeply([sort { $a <=> $b } map { $_->{proposal_id} // 0 } @$all], [sort { $a <=> $b } $P->{id}, $PC->{id}, $PL->{id}],
              'one per opened proposal');
    is(scalar @{ items(notes($ae2)) }, 0, 'another AE has none');
    is(unread($ae2), 0, "another AE's unread_count 0");
    is(scalar @{ items(notes($mgr)) }, 0, "the manager does not get the AE's notifications");
    my $first = $all->[0] || {};
    problem(call(POST => "/notifications/$first->{id}/read", $ae2), 404, 'not-found', "another AE cannot read the AE's notification");
    is(unread($ae), 3, 'still three unread');
    my $r = call(POST => "/notifications/$first->{id}/read", $ae);
    ok($r->{status} == 200 || $r->{status} == 204, 'mark one read') or diag("$r->{status} $r->{content}");
    is(unread($ae), 2, 'unread_count 2');
    my $un = items(notes($ae, '?unread=true'));
    is(scalar @$un, 2, 'unread=true lists two');
    ok(!grep({ $_->{id} == $first->{id} } @$un), 'not the read one');
    my ($read) = grep { $_->{id} == $first->{id} } @{ items(notes($ae)) };
    ok(defined(($read || {})->{read_at}), 'read_at set');
    my $pg = notes($ae, '?limit=1');
    is(scalar @{ items($pg) }, 1, 'limit=1: one');
    ok(defined((ref $pg->{json} eq 'HASH' ? $pg->{json} : {})->{next_cursor}), 'with a next_cursor');
    problem(call(POST => '/notifications/999999/read', $ae), 404, 'not-found', 'read an unknown notification');
    $r = call(POST => '/notifications/read-all', $ae);
    ok($r->{status} == 200 || $r->{status} == 204, 'read-all') or diag("$r->{status} $r->{content}");
    is(unread($ae), 0, 'unread_count 0');
    is(scalar @{ items(notes($ae, '?unread=true')) }, 0, 'unread=true lists none');
    is(scalar @{ items(notes($ae)) }, 3, 'all three still listed');
    problem(call(GET => '/notifications'), 401, 'unauthorized', 'notifications need a token');
}

# --- query parameters that are not understood -------------------------------------------------------------------------------
sub bad_param {
    my ($path, $who, $param) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    problem($r, 400, 'malformed', "GET $path");
    my @named = grep { ($_->{pointer} // '') =~ /(?:^|\/)\Q$param\E$/ || ($_->{detail} // '') =~ /\b\Q$param\E\b/ }
                @{ ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [] };
    ok(@named, "GET $path: errors name $param") or diag($r->{content});
}
for my $bad (['unread=maybe', 'unread'], ['limit=0', 'limit'], ['limit=201', 'limit'], ['cursor=zzz', 'cursor'], ['color=red', 'color']) {
    bad_param("/notifications?$bad->[0]", $ae, $bad->[1]);
}
for my $bad (['limit=0', 'limit'], ['limit=201', 'limit'], ['cursor=zzz', 'cursor'], ['color=red', 'color']) {
    bad_param("/proposals/$P->{id}/views?$bad->[0]", $ae, $bad->[1]);
}

# --- erase a recipient --------------------------------------------------------------------------------------------------
{
    my $r1rows = nviews("recipient_id = $r1->{id}");
    problem(call(POST => "/proposals/$P->{id}/recipients/$r2->{id}/erase", $ae2), 404, 'not-found', 'another AE cannot erase');
    is(nviews("recipient_id = $r2->{id}"), 1, 'nothing erased');
    problem(call(POST => "/proposals/$PB->{id}/recipients/$r2->{id}/erase", $ae), 404, 'not-found',
            'a recipient of another proposal');
    my $r = call(POST => "/proposals/$P->{id}/recipients/$r2->{id}/erase", $ae);
    ok($r->{status} == 200 || $r->{status} == 204, 'erase the second recipient') or diag("$r->{status} $r->{content}");
    is(nviews("recipient_id = $r2->{id}"), 0, 'its views are gone');
    is(nviews("recipient_id = $r1->{id}"), $r1rows, "the other recipient's views stay");
    my $x = recipient($r2->{id});
    is($x->{email}, 'erased@invalid', 'address erased@invalid');
    ok(!defined $x->{name} || $x->{name} eq '', 'name blanked');
    ok(!grep({ ($_->{recipient_id} // 0) == $r2->{id} } @{ items(views_api($P->{id}, $ae, '?limit=200')) }),
       'the views list no longer shows it');
    is($t->sql("select count(*) from proposal_recipients where email like '%cfo\@alfa.ro%' or name like '%cfo\@alfa.ro%'"), 0,
       'the address is nowhere in the recipients');
}

# --- an hour after the last notification the owner hears again -----------------------------------------------------------
{
    # The last notification about the proposal is moved two hours back, as if the hour had passed.
    my $ms = ($t->sql("select max(created_at) from notifications where proposal_id = $PC->{id}") // 0) > 1e11;
    my $shift = 2 * 3600 * ($ms ? 1000 : 1);
    $t->sql("update notifications set created_at = created_at - $shift where proposal_id = $PC->{id}");
    is(unread($ae), 0, 'nothing unread before');
    gif_ok(pix($rcn->[0]{token}, 'User-Agent' => "$UA_GM x"), 'a new open an hour later');
    ok(poll(sub { unread($ae) == 1 }), 'an hour later the owner gets another notification');
    is(events('proposal.viewed', $PC->{id}), 2, 'and another proposal.viewed event');
    gif_ok(pix($rcn->[1]{token}, 'User-Agent' => "$UA_YH y"), 'another open right after');
    ok(poll(sub { nviews("proposal_id = $PC->{id}") >= @count + 2 }), 'written');
    settle();
    is(unread($ae), 1, 'but not one more within the same hour');
    is(events('proposal.viewed', $PC->{id}), 2, 'nor another event');
}

# --- stats are the admin's and outlive a restart ------------------------------------------------------------------------
problem(call(GET => '/pixel/stats', $ae), 403, 'forbidden', 'an AE may not read /pixel/stats');
problem(call(GET => '/pixel/stats', $mgr), 403, 'forbidden', 'a manager may not read /pixel/stats');
{
    settle();
    my $s = stats();
    cmp_ok($s->{views} // 0, '>=', nviews(), 'stats views cover every recorded view');
    cmp_ok($s->{forged} // 0, '>=', @forged + @malformed + @missing, 'stats forged cover every refused token');
    $t->stop;
    $t->start;
    is_deeply(stats(), $s, 'the counters are the same after a restart');
}

# --- rotating the secret: old links keep working until their secret is removed ----------------------------------------------
{
    my $file = "$t->{dir}/secret";
    my $old = SalesTest::read_file($file);
    my $new = SalesTest::random_secret() . "\n";
    $t->stop;
    SalesTest::write_file($file, $new . $old);
    $t->start;
    my $n1 = sub { nviews("recipient_id = $r1->{id}") };
    my $before = $n1->();
    gif_ok(pix($tk, 'User-Agent' => $UA_SCAN), 'a link signed with the old secret, after a new one was put first');
    ok(poll(sub { $n1->() == $before + 1 }), 'is still a genuine token: its view is recorded');
    my ($rot) = @{ send_to($W, $P->{id}, ['rot@alfa.ro']) };
    isnt($rot->{token}, '', 'a new link');
    gif_ok(pix($rot->{token}, 'User-Agent' => $UA_SCAN), 'a link signed with the new secret');
    ok(poll(sub { nviews("recipient_id = $rot->{id}") == 1 }), 'its view is recorded');

    $t->stop;
    SalesTest::write_file($file, $new);
    $t->start;
    my $s0 = stats();
    gif_ok(pix($tk, 'User-Agent' => $UA_SCAN), 'a link whose secret was removed');
    gif_ok(pix($rot->{token}, 'User-Agent' => $UA_SCAN), 'the new link again');
    ok(poll(sub { nviews("recipient_id = $rot->{id}") == 2 }), 'the new link is recorded');
    sleep 0.2;
    is($n1->(), $before + 1, 'the link of the removed secret records nothing');
    my $s1 = poll(sub { my $s = stats(); ($s->{forged} // 0) > ($s0->{forged} // 0) ? $s : undef }) || stats();
    is(delta($s0, $s1)->{forged}, 1, 'and is counted as forged');
}

# --- nginx -t: what the pixel directives need and accept -------------------------------------------------------------------
{
    my $base = $t->conf;
    my @bad = (
        ['sales_pixel without sales_secret_file', $base =~ s/^\s*sales_secret_file [^\n]*\n//mr],
        ['an unknown class',                 $t->conf(http_extra => 'sales_pixel_ua robot "x";')],
        ['a regex that does not compile',    $t->conf(http_extra => 'sales_pixel_ua bot "(";')],
        ['sales_pixel_class with an unknown class', $t->conf(http_extra => 'sales_pixel_class robot $http_x_scanner;')],
        ['sales_pixel_ua_defaults maybe',    $t->conf(http_extra => 'sales_pixel_ua_defaults maybe;')],
        ['sales_pixel_batch 0',              $t->conf(http_extra => 'sales_pixel_batch 0;')],
        ['sales_pixel_flush soon',           $t->conf(http_extra => 'sales_pixel_flush soon;')],
        ['sales_pixel in the http block',    $t->conf(http_extra => 'sales_pixel;')],
    );
    for my $c (@bad) {
        my ($rc, $out) = $t->conf_test($c->[1]);
        isnt($rc, 0, "nginx -t refuses $c->[0]") or diag($out);
    }
    my ($rc, $out) = $t->conf_test($t->conf(http_extra => join ' ', 'sales_pixel_flush 10ms;', 'sales_pixel_batch 10;',
        'sales_pixel_dedupe 1h;', 'sales_pixel_prefetch_window 5m;', 'sales_pixel_ua_retention 7d;',
        'sales_pixel_ua proxy "^MyProxy/";', 'sales_pixel_ua prefetch "^Prefetcher";', 'sales_pixel_ua_defaults on;',
        'sales_pixel_class human $http_x_person;'));
    is($rc, 0, 'nginx -t accepts every pixel directive') or diag($out);
}

$t->stop;

# --- batch size, defaults off, user-agent retention ---------------------------------------------------------------------
# One worker that writes only when three views wait (the flush timer is far off),
# without the built-in patterns, keeping raw user agents for one second.
{
    my $t3 = SalesTest->new(workers => 1, http_extra => join ' ', 'sales_pixel_flush 30s;', 'sales_pixel_batch 3;',
                            'sales_pixel_ua_defaults off;', 'sales_pixel_ua bot "^EvilScanner";', 'sales_pixel_ua_retention 1s;');
    my $w3 = world($t3);
    my $p3 = mkprop($w3);
    my $rs = send_to($w3, $p3->{id}, [map { "b$_\@alfa.ro" } 1 .. 6]);
    my $n3 = sub { $t3->sql("select count(*) from proposal_views where proposal_id = $p3->{id}") // -1 };
    my $rows3 = sub { my %by = map { split /\|/, $_, 2 } split /\n/,
                          ($t3->sql("select recipient_id || '|' || class || '|' || coalesce(ua, '<null>') from proposal_views"
                                    . " where proposal_id = $p3->{id}") // ''); \%by };
    my @first = (['curl/8.5.0', 'human'], [$UA_GM, 'human'], ['EvilScanner/3.1', 'bot']);
    for my $i (0 .. 2) {
        is(raw(GET => pixel_path($rs->[$i]{token}), { 'User-Agent' => $first[$i][0] }, undef, $t3)->{status}, 200, "batch hit $i");
    }
    ok(poll(sub { $n3->() == 3 }, 3), 'three waiting views are written at once (sales_pixel_batch 3)');
    my $by = $rows3->();
    for my $i (0 .. 2) {
        is((split /\|/, $by->{ $rs->[$i]{id} } // '')[0], $first[$i][1],
           "sales_pixel_ua_defaults off: '$first[$i][0]' is $first[$i][1]");
    }
    sleep 1.3;
    for my $i (3 .. 5) {
        raw(GET => pixel_path($rs->[$i]{token}), { 'User-Agent' => $UA_TB }, undef, $t3);
    }
    ok(poll(sub { $n3->() == 6 }, 3), 'the next three are written');
    ok(poll(sub { my $b = $rows3->(); !grep { ($b->{ $rs->[$_]{id} } // '') !~ /\|<null>$/ } 0 .. 2 }, 3),
       'user agents older than sales_pixel_ua_retention are cleared') or diag(explain $rows3->());
    $by = $rows3->();
    is((split /\|/, $by->{ $rs->[3]{id} } // '', 2)[1], $UA_TB, 'a recent user agent stays');
    is((split /\|/, $by->{ $rs->[0]{id} } // '', 2)[0], 'human', 'the class stays when the agent is cleared');
    $t3->stop;
}

done_testing;
