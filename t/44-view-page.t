use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;
use Encode qw(decode_utf8);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t   = SalesTest->new(http_extra => 'sales_pixel_flush 20ms;');
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;
my $T   = JSON::PP::true;

my $UA_CHR = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

# --- helpers -------------------------------------------------------------------------------------------------

sub tok { ref $_[0] ? $_[0]{token} : $_[0] }
sub iso {
    my @g = gmtime shift;
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0];
}
# API call; a clock (epoch seconds) sets X-Sales-Test-Now, none leaves the real clock
# (the page and its answers run on the real clock).
sub call {
    my ($method, $path, $who, $body, %o) = @_;
    my %h;
    $h{'X-Sales-Test-Now'} = iso($o{clock}) if defined $o{clock};
    return $t->api($method, $path, tok($who), $body, \%h);
}

# One HTTP request on a fresh connection, read to the end.
sub raw {
    my ($method, $path, $h, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->{port}, Timeout => 10)
        or return { status => 599, error => "connect: $!", headers => [], body => '' };
    binmode $s;
    my %h = ('User-Agent' => $UA_CHR, %{ $h || {} });
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$t->{port}\r\nConnection: close\r\n";
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
    $rest //= '';
    if (grep { $_->[0] eq 'transfer-encoding' && $_->[1] =~ /chunked/i } @hdrs) {
        my $body = '';
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $body .= substr($rest, 0, $n, '');
            $rest =~ s/^\r\n//;
        }
        $rest = $body;
    }
    my $text = eval { decode_utf8($rest, Encode::FB_CROAK | Encode::LEAVE_SRC) } // $rest;
    return { status => $status // 599, headers => \@hdrs, body => $rest, text => $text };
}
sub hdr { my ($r, $name) = @_; join "\n", map { $_->[1] } grep { $_->[0] eq $name } @{ $r->{headers} } }

sub page { my ($tk, %h) = @_; raw(GET => "/p/$tk", \%h) }
sub answer_form {
    my ($tk, $form, %h) = @_;
    return raw(POST => "/p/$tk", { 'Content-Type' => 'application/x-www-form-urlencoded', %h }, $form);
}
sub answer_json {
    my ($tk, $json) = @_;
    return raw(POST => "/p/$tk", { 'Content-Type' => 'application/json' }, $json);
}
# The answer to a decision: the page again (200) or a redirect to it (303).
sub answered {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok($r->{status} == 200 || $r->{status} == 303, "$name: 200 or 303") or diag("$r->{status} " . substr($r->{body}, 0, 300));
}

sub sqlj {
    my $q = shift;
    my ($rc, $out, $err) = SalesTest::run_cmd(['sqlite3', '-json', '-cmd', '.timeout 10000', $t->{db}, $q]);
    if ($rc) { diag("sqlite3 failed ($rc) on '$q': $err"); return [] }
    return $out =~ /\S/ ? ($J->decode($out) // []) : [];
}
sub prow { sqlj("select * from proposals where id = $_[0]")->[0] || {} }
sub views { sqlj("select * from proposal_views where proposal_id = $_[0]" . (defined $_[1] ? " and recipient_id = $_[1]" : '') . ' order by rowid') }
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
sub getp { my $r = call(GET => "/proposals/$_[0]", $_[1]); ref $r->{json} eq 'HASH' ? $r->{json} : {} }

# What must not move when an answer changes nothing.
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        "select group_concat(id || ':' || status || ':' || version || ':' || coalesce(decided_at, '-') || ':'"
            . " || coalesce(decided_by_recipient_id, '-'), ',') from (select * from proposals order by id)",
        $SalesTest::OUTBOX_COUNT,
        'select count(*) from audit_log';
}

# Every proposal's status and answer.
sub decisions {
    return $t->sql("select group_concat(id || ':' || status || ':' || coalesce(decided_at, '-') || ':'"
                   . " || coalesce(decided_by_recipient_id, '-'), ',') from (select * from proposals order by id)") // 'ERR';
}

# --- data: hostile text everywhere the page shows something ------------------------------------------------------
my $mgr = $t->user('manager');
my $ae  = $t->user('ae', manager_id => $mgr->{id});
must(call(PUT => '/settings/seller', $adm, { name => 'Vânzător <b>SRL</b> & "Co"', city => 'Cluj-Napoca' }), 200, 'seller');
my $prod = must(call(POST => '/products', $adm, { sku => 'CRM', name => 'Modul CRM <i>pro</i>' }), 201, 'product')->{id};
my $pl = must(call(POST => '/price-lists', $adm, { name => 'Standard', is_default => $T }), 201, 'price list');
must(call(POST => "/price-lists/$pl->{id}/items", $adm, { product_id => $prod, unit_price_minor => 123456 }), 201, 'item');
my $cl = must(call(POST => '/clients', $ae, { name => q{Alfa <script>alert('client')</script> SRL} }), 201, 'client');
my $op = must(call(POST => '/opportunities', $ae, { client_id => $cl->{id}, title => 'CRM', expected_close => '2027-06-30' }),
              201, 'opportunity');

my $COVER = q{Stimate client, <script>alert(1)</script> "><img src=x onerror=alert(2)> oferta noastră};
my $TERMS = q{Plata în 30 de zile <iframe src="//evil.invalid"></iframe>};
my $NOTE  = 'NOTA-INTERNA-7731';
sub mkprop {
    my (%o) = @_;
    my %b = (opportunity_id => $op->{id}, cover_letter => $COVER, terms => $TERMS, notes => $NOTE,
             lines => [{ product_id => $prod, quantity => 3, description => 'Implementare modul CRM' },
                       { product_id => $prod, quantity => 1, description => q{Instruire <svg onload=alert(3)> & suport} }],
             %{ $o{body} || {} });
    return must(call(POST => '/proposals', $ae, \%b, clock => $o{clock}), 201, 'proposal');
}
sub send_to {
    my ($pid, $emails, %o) = @_;
    my $j = must(call(POST => "/proposals/$pid/send", $ae, { recipients => [map { { email => $_ } } @$emails] }, clock => $o{clock}),
                 200, "send $pid");
    my %by = map { $_->{email} => $_ } @{ $j->{recipients} || [] };
    return [map {
        my $x = $by{$_} || {};
        my ($tk) = ($x->{view_url} // '') =~ m{/p/([A-Za-z0-9_-]+)$};
        { id => $x->{id}, email => $_, token => $tk // '' }
    } @$emails];
}

my $PA = mkprop();
my ($ra1, $ra2) = @{ send_to($PA->{id}, ['achizitii@alfa.ro', 'cfo@alfa.ro']) };
ok(length $ra2->{token}, 'send answers view links') or BAIL_OUT('no view tokens');

# --- the page ------------------------------------------------------------------------------------------------------
my $pg = page($ra2->{token});
is($pg->{status}, 200, 'GET /p/<token> 200') or diag(substr($pg->{body}, 0, 500));
like(hdr($pg, 'content-type'), qr{^text/html\b}i, 'text/html');
my $html = $pg->{text};
like($html, qr/\Q$PA->{number}\E/, "the proposal's number ($PA->{number})");
like($html, qr/Implementare modul CRM/, 'the first line');
like($html, qr/Instruire &lt;svg onload=alert\(3\)&gt; &amp; suport/, 'the second line, escaped');
like($html, qr/oferta noastră/, 'the cover letter');
like($html, qr/<form\b[^>]*\bmethod\s*=\s*["']?post/i, 'a form that POSTs');
like($html, qr/\bname\s*=\s*["']?decision\b/i, 'a decision field');
like($html, qr/\bvalue\s*=\s*["']?accept\b/i, 'an Accept button');
like($html, qr/\bvalue\s*=\s*["']?decline\b/i, 'a Decline button');

# Hostile text is escaped; the AE's notes stay off the page.
unlike($html, qr/<script>alert/i, 'no live <script> from the data');
unlike($html, qr/<img src=x/i, 'no injected <img>');
unlike($html, qr/<svg onload/i, 'no injected <svg>');
unlike($html, qr/<iframe/i, 'no injected <iframe>');
unlike($html, qr/<i>pro<\/i>/, 'the product name is not markup');
unlike($html, qr/<b>SRL<\/b>/, 'the seller name is not markup');
like($html, qr/&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'the cover letter script shows as text');
like($html, qr/&lt;script&gt;alert\((?:'|&#0?39;|&#x27;|&apos;)client/, 'the client name shows as text');
like($html, qr/(?:&quot;|&#0?34;|&#x22;)&gt;&lt;img src=x/, 'quotes escaped');
like($html, qr/&lt;iframe/, 'the terms show as text');
unlike($html, qr/\Q$NOTE\E/, 'the internal notes are not on the page');

ok(poll(sub { @{ views($PA->{id}, $ra2->{id}) } >= 1 }), 'the page view is recorded');
{
    my $v = views($PA->{id}, $ra2->{id})->[0] || {};
    is($v->{channel}, 'page', 'channel page');
    is($v->{class}, 'human', 'a browser: human');
    is($v->{ip}, '127.0.0.0', 'the address truncated');
    is($v->{ua}, $UA_CHR, 'the user agent');
}
ok(poll(sub { (getp($PA->{id}, $ae)->{status} // '') eq 'viewed' }), 'a person reading the page moves the proposal to viewed');

# --- no GET changes the proposal -------------------------------------------------------------------------------------
my $snap = snapshot();
my $decided = decisions();
my @gets = (
    [page($ra2->{token}), 'again'],
    [page($ra2->{token}, 'User-Agent' => 'Mozilla/5.0 (compatible; Barracuda Sentinel)'), 'a link scanner'],
    [page($ra1->{token}, 'User-Agent' => 'curl/8.5.0'), 'curl'],
    [raw(GET => "/p/$ra2->{token}?decision=accept"), 'with ?decision=accept'],
    [raw(GET => "/p/$ra1->{token}?decision=decline"), 'with ?decision=decline'],
);
is($_->[0]{status}, 200, "GET $_->[1]: 200") for @gets;
ok(poll(sub { @{ views($PA->{id}) } >= 6 }), 'every GET is recorded as a view');
is_deeply([map { $_->{channel} } @{ views($PA->{id}) }], [('page') x 6], 'all on the page channel');
{
    my $p = getp($PA->{id}, $ae);
    ok(($p->{status} // '') =~ /^(?:sent|viewed)$/, "after five GETs the proposal is $p->{status}, not answered");
    is($p->{status}, 'viewed', 'still viewed');
    ok(!defined $p->{decided_at}, 'no decided_at');
    is(events('proposal.accepted', $PA->{id}) + events('proposal.rejected', $PA->{id}), 0, 'no answer event');
    is(decisions(), $decided, 'no decision recorded on any proposal');
}

# --- accept through the page ------------------------------------------------------------------------------------------
my $before = time;
my $acc = answer_form($ra2->{token}, 'decision=accept');
answered($acc, 'POST decision=accept');
{
    my $p = getp($PA->{id}, $ae);
    is($p->{status}, 'accepted', 'the proposal is accepted');
    ok(defined $p->{decided_at}, 'decided_at set');
    is($p->{decided_by_recipient_id}, $ra2->{id}, 'GET /proposals/{id}: decided_by_recipient_id is the recipient who answered');
    is(prow($PA->{id})->{decided_by_recipient_id}, $ra2->{id}, 'stored decided_by_recipient_id');
    is(events('proposal.accepted', $PA->{id}), 1, 'one proposal.accepted event');
    if ($acc->{status} == 200) {
        like($acc->{text}, qr/\Q$PA->{number}\E/, 'the answer shows the page again');
    } else {
        like(hdr($acc, 'location'), qr{/p/\Q$ra2->{token}\E$}, 'the redirect goes back to the page');
    }
}
$snap = snapshot();
my $again = answer_form($ra2->{token}, 'decision=accept');
answered($again, 'the same answer again');
is($again->{status}, $acc->{status}, 'answered like the first time');
is(snapshot(), $snap, 'the same answer changes nothing');
is(events('proposal.accepted', $PA->{id}), 1, 'still exactly one proposal.accepted event');
like(page($ra2->{token})->{text}, qr/\Q$PA->{number}\E/, 'the page still shows');

my $dec = answer_form($ra2->{token}, 'decision=decline');
is($dec->{status}, 409, 'decline after accepting: 409');
$dec = answer_form($ra1->{token}, 'decision=decline');
is($dec->{status}, 409, 'decline by the other recipient after an accept: 409');
is(snapshot(), $snap, 'a refused answer changes nothing');
is(getp($PA->{id}, $ae)->{status}, 'accepted', 'still accepted');
is(events('proposal.rejected', $PA->{id}), 0, 'no proposal.rejected event');

# --- decline through the page ------------------------------------------------------------------------------------------
my $PB = mkprop();
my (undef, $rb) = @{ send_to($PB->{id}, ['x@alfa.ro', 'financiar@alfa.ro']) };
my $rej = answer_form($rb->{token}, 'decision=decline');
answered($rej, 'POST decision=decline on a sent proposal');
{
    my $p = getp($PB->{id}, $ae);
    is($p->{status}, 'rejected', 'rejected');
    ok(defined $p->{decided_at}, 'decided_at set');
    is(prow($PB->{id})->{decided_by_recipient_id}, $rb->{id}, 'decided_by_recipient_id');
    is(events('proposal.rejected', $PB->{id}), 1, 'one proposal.rejected event');
    is(events('proposal.accepted', $PB->{id}), 0, 'no proposal.accepted event');
}
$snap = snapshot();
answered(answer_form($rb->{token}, 'decision=decline'), 'decline again');
is(snapshot(), $snap, 'the same decline changes nothing');
is(answer_form($rb->{token}, 'decision=accept')->{status}, 409, 'accept after declining: 409');
is(snapshot(), $snap, 'nothing written');

# --- JSON answers ---------------------------------------------------------------------------------------------------------
my $PC = mkprop();
my ($rc) = @{ send_to($PC->{id}, ['json@alfa.ro']) };
answered(answer_json($rc->{token}, '{"decision":"accept"}'), 'POST {"decision":"accept"} as JSON');
is(getp($PC->{id}, $ae)->{status}, 'accepted', 'accepted');
is(prow($PC->{id})->{decided_by_recipient_id}, $rc->{id}, 'decided_by_recipient_id');
is(events('proposal.accepted', $PC->{id}), 1, 'one proposal.accepted event');

# --- bad answers -------------------------------------------------------------------------------------------------------------
my $PD = mkprop();
my ($rd) = @{ send_to($PD->{id}, ['bad@alfa.ro']) };
$snap = snapshot();
for my $case (
    ['decision=maybe',            'form', 'decision=maybe'],
    ['decision=',                 'form', 'decision='],
    ['no decision',               'form', 'other=1'],
    ['an empty form',             'form', ''],
    ['decision=Accepted',         'form', 'decision=Accepted'],
    ['JSON {"decision":"maybe"}', 'json', '{"decision":"maybe"}'],
    ['JSON {"decision":1}',       'json', '{"decision":1}'],
    ['JSON that is not an object', 'json', '["accept"]'],
    ['broken JSON',               'json', '{"decision":'],
) {
    my $r = $case->[1] eq 'form' ? answer_form($rd->{token}, $case->[2]) : answer_json($rd->{token}, $case->[2]);
    ok($r->{status} == 400 || $r->{status} == 422, "$case->[0]: 400 or 422") or diag("got $r->{status}");
}
is(snapshot(), $snap, 'bad answers change nothing');
is(getp($PD->{id}, $ae)->{status}, 'sent', 'still sent');

# --- tokens that are not genuine --------------------------------------------------------------------------------------------
{
    my $bad = $rd->{token};
    substr($bad, 10, 1) = substr($bad, 10, 1) eq 'A' ? 'B' : 'A';
    for my $x (['a changed character', $bad], ['a truncated token', substr($rd->{token}, 0, 30)], ['garbage', 'not-a-token'],
               ['no token', '']) {
        my $r = page($x->[1]);
        is($r->{status}, 404, "GET /p/ with $x->[0]: 404");
        like(hdr($r, 'content-type'), qr{^text/(?:plain|html)\b}i, "$x->[0]: a plain page");
        unlike($r->{body}, qr/PRO-\d{4}|Implementare|Alfa/, "$x->[0]: shows nothing of any proposal");
        is(answer_form($x->[1], 'decision=accept')->{status}, 404, "POST /p/ with $x->[0]: 404");
    }
    is(snapshot(), $snap, 'nothing written for tokens that are not genuine');
    is(scalar @{ views($PD->{id}) }, 0, 'and no view recorded');
}

# --- other methods ----------------------------------------------------------------------------------------------------------
for my $m (qw(PUT DELETE PATCH)) {
    is(raw($m => "/p/$rd->{token}", {}, $m eq 'DELETE' ? undef : 'decision=accept')->{status}, 405, "$m /p/<token>: 405");
}
is(getp($PD->{id}, $ae)->{status}, 'sent', 'still sent');

# --- answers to proposals that are not sent or viewed --------------------------------------------------------------------------
{
    my $PE = mkprop();
    my ($re) = @{ send_to($PE->{id}, ['rev@alfa.ro']) };
    my $rev = must(call(POST => "/proposals/$PE->{id}/revise", $ae), 201, 'revise');
    $snap = snapshot();
    is(answer_form($re->{token}, 'decision=accept')->{status}, 409, 'accept a superseded proposal: 409');
    is(snapshot(), $snap, 'nothing written');
    is(getp($PE->{id}, $ae)->{status}, 'superseded', 'still superseded');
    is(getp($rev->{id}, $ae)->{status}, 'draft', 'the revision stays a draft');

    # Made and sent forty days ago, valid for five: expired now.
    my $then = int(time) - 40 * 86400;
    my @g = gmtime($then + 5 * 86400);
    my $until = sprintf '%04d-%02d-%02d', $g[5] + 1900, $g[4] + 1, $g[3];
    my $PF = mkprop(clock => $then, body => { valid_until => $until });
    my ($rf) = @{ send_to($PF->{id}, ['late@alfa.ro'], clock => $then) };
    is(getp($PF->{id}, $ae)->{status}, 'expired', 'a proposal past its validity reads expired');
    $snap = snapshot();
    is(answer_form($rf->{token}, 'decision=accept')->{status}, 409, 'accept an expired proposal: 409');
    is(answer_form($rf->{token}, 'decision=decline')->{status}, 409, 'decline an expired proposal: 409');
    is(snapshot(), $snap, 'nothing written');

    my $PG = mkprop();
    my ($rg) = @{ send_to($PG->{id}, ['ae@alfa.ro']) };
    must(call(POST => "/proposals/$PG->{id}/reject", $ae, { note => 'bugetul a fost taiat' }), 200, 'the AE records a rejection');
    $snap = snapshot();
    is(answer_form($rg->{token}, 'decision=accept')->{status}, 409, 'accept a proposal the AE recorded as rejected: 409');
    is(snapshot(), $snap, 'nothing written');

    # Reading the page of an answered or superseded proposal never reopens it.
    is(page($rg->{token})->{status}, 200, 'the page of a rejected proposal');
    is(page($re->{token})->{status}, 200, 'the page of a superseded proposal');
    ok(poll(sub { @{ views($PG->{id}, $rg->{id}) } && @{ views($PE->{id}, $re->{id}) } }), 'both views recorded');
    sleep 0.2;
    is(getp($PG->{id}, $ae)->{status}, 'rejected', 'a first view leaves a rejected proposal rejected');
    is(getp($PE->{id}, $ae)->{status}, 'superseded', 'and a superseded one superseded');
}
ok(poll(sub { @{ views($PA->{id}) } >= 7 }), 'the page view after the answer is recorded');
is(getp($PA->{id}, $ae)->{status}, 'accepted', 'views after an accept leave it accepted');

$t->stop;
done_testing;
