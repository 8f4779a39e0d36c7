package WebhookReceiver;

# A mock webhook receiver for the tests: an HTTP/1.1 server on 127.0.0.1
# in a forked process (its own process group), one more fork per
# connection so slow answers run in parallel.
#
#   my $r = WebhookReceiver->new(dir => $dir);            # a free port
#   my $r = WebhookReceiver->new(dir => $dir, port => $p); # that port again
#   $r->url('/hook');   $r->port;
#   $r->set(statuses => [500, 200], default => 200, delay => 0.5,
#           headers => { 'Retry-After' => '2' }, location => $url, body => 'ok');
#   my @req = $r->requests;   # [{n, time, method, path, headers, body, status}]
#   $r->stop;
#   WebhookReceiver::verify($req, 'whsec_…')
#
# Every request appends one JSON line to "$dir/hooks.log" (under flock):
# its number n (0-based, counted across the receiver), arrival time
# (Time::HiRes), method, path, lower-cased headers (repeats joined with
# ", "), the body and the status it is answered with. What it answers
# comes from "$dir/control.json", read on every request: request n gets
# statuses[n] if there is one, else default (200); it sleeps delay seconds
# after logging, then answers with the extra headers (and Location when
# location is set), a small body, Content-Length and Connection: close.
# Instead of that answer, raw sends exactly its bytes (a string; with
# raw_parts, a list of strings sent one by one, pause seconds apart);
# early => 1 sends raw as soon as the connection is accepted, before
# reading anything (for a client that speaks TLS to it, say); hold keeps
# the connection open that many seconds after the answer, as a kept-alive
# connection would be, instead of closing it.
# set() replaces the whole control file and starts the count again at 0.
# A receiver stopped and started again in the same dir keeps its log and
# its count.

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX qw(WNOHANG);
use Fcntl qw(:flock O_RDWR O_CREAT);
use Time::HiRes qw(time sleep);
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use Scalar::Util qw(blessed);
use SalesTest ();

our @EXPORT_OK = qw(verify sign signatures);

my $JSON = JSON::PP->new->utf8->canonical;
my %LIVE;          # server pid => the pid of the process that started it
my $HANDLERS;      # installed once

my %REASON = (200 => 'OK', 201 => 'Created', 202 => 'Accepted', 204 => 'No Content',
              301 => 'Moved Permanently', 302 => 'Found', 307 => 'Temporary Redirect',
              400 => 'Bad Request', 401 => 'Unauthorized', 404 => 'Not Found',
              410 => 'Gone', 429 => 'Too Many Requests', 500 => 'Internal Server Error',
              502 => 'Bad Gateway', 503 => 'Service Unavailable');

sub new {
    my ($class, %opt) = @_;
    my $dir = $opt{dir} or die "WebhookReceiver->new: dir is required\n";
    mkdir $dir unless -d $dir;
    die "WebhookReceiver: no folder $dir\n" unless -d $dir;

    my $self = bless { dir => $dir, owner => $$ }, $class;
    $self->set(%{ $opt{control} }) if $opt{control};
    write_atomic("$dir/control.json", "{}") unless -e "$dir/control.json";

    # Bound here, before the fork: the port listens when new() returns.
    my $listen;
    my $deadline = time + 5;
    while (1) {
        $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $opt{port} // 0,
                                        Proto => 'tcp', Listen => 128, ReuseAddr => 1);
        last if $listen || !$opt{port} || time > $deadline;
        sleep 0.05;    # the port of a receiver just stopped may take a moment
    }
    die "WebhookReceiver: bind 127.0.0.1:" . ($opt{port} // 0) . ": $!\n" unless $listen;
    $self->{port} = $listen->sockport;

    install_handlers();
    my $owner = $$;
    my $pid = fork // die "WebhookReceiver: fork: $!\n";
    if (!$pid) {
        setpgrp(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
        $SIG{CHLD} = 'IGNORE';    # connection children are reaped by the kernel
        $SIG{PIPE} = 'IGNORE';
        eval { serve($listen, $dir, $owner) };
        POSIX::_exit(0);
    }
    eval { POSIX::setpgid($pid, $pid) };    # also here: no race with stop()
    close $listen;
    $self->{pid} = $pid;
    $LIVE{$pid} = $$;
    return $self;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub dir  { $_[0]{dir} }
sub url  { my ($self, $path) = @_; "http://127.0.0.1:$self->{port}" . ($path // '/') }

# Replaces the control file and starts the request count again at 0.
sub set {
    my ($self, %control) = @_;
    write_atomic("$self->{dir}/control.json", $JSON->encode(\%control));
    sysopen my $fh, "$self->{dir}/counter", O_RDWR | O_CREAT or die "counter: $!";
    flock $fh, LOCK_EX;
    truncate $fh, 0;
    syswrite $fh, "0";
    close $fh;
    return $self;
}

# The requests received so far, in order of arrival (in scalar context,
# how many).
sub requests {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/hooks.log" or return ();
    flock $fh, LOCK_SH;
    my @r;
    while (my $line = <$fh>) {
        my $j = eval { $JSON->decode($line) } or next;
        push @r, $j;
    }
    close $fh;
    @r = sort { $a->{time} <=> $b->{time} || $a->{n} <=> $b->{n} } @r;
    return wantarray ? @r : scalar @r;
}

sub stop {
    my $self = shift;
    return unless $$ == $self->{owner};
    my $pid = delete $self->{pid} or return;
    delete $LIVE{$pid};
    kill_group($pid);
}

sub DESTROY {
    my $self = shift;
    local ($?, $@, $!);
    $self->stop if $self->{pid} && $$ == $self->{owner};
}

END {
    local $?;
    stop_all();
}

sub stop_all {
    for my $pid (keys %LIVE) {
        next unless $LIVE{$pid} == $$;
        delete $LIVE{$pid};
        kill_group($pid);
    }
}

# The server, its connection children and anything they left: TERM to the
# process group, the server waited for, then KILL to whatever remains.
sub kill_group {
    my $pid = shift;
    kill 'TERM', -$pid or kill 'TERM', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        my $r = waitpid $pid, WNOHANG;
        last if $r == $pid || $r == -1;
        sleep 0.02;
    }
    kill 'KILL', -$pid;
    if (waitpid($pid, WNOHANG) == 0) { kill 'KILL', $pid; waitpid $pid, 0 }
}

# A test killed by a signal stops its receivers too, then whatever handler
# was there before (SalesTest's stops nginx and exits).
sub install_handlers {
    return if $HANDLERS++;
    for my $sig (qw(TERM INT HUP)) {
        my $prev = $SIG{$sig};
        $SIG{$sig} = sub {
            stop_all();
            if (ref $prev eq 'CODE') { $prev->(@_) }
            POSIX::_exit(1);
        };
    }
}

# --- the server (in the forked process) -------------------------------------

sub serve {
    my ($listen, $dir, $owner) = @_;
    my $sel = IO::Select->new($listen);
    while (1) {
        POSIX::_exit(0) if getppid() != $owner;    # the test is gone
        next unless $sel->can_read(0.5);
        my $c = $listen->accept or next;
        my $at = time;
        my $kid = fork;
        if (!defined $kid) { close $c; next }
        if (!$kid) {
            close $listen;
            alarm 120;
            eval { handle($c, $dir, $at) };
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub handle {
    my ($c, $dir, $at) = @_;
    binmode $c;
    my $early = eval { $JSON->decode(SalesTest::read_file("$dir/control.json")) };
    if (ref $early eq 'HASH' && $early->{early}) {
        append_log($dir, { n => next_number($dir), time => $at, method => '', path => '',
                           version => '', headers => {}, body => '', status => 0 });
        sleep $early->{delay} if $early->{delay} && $early->{delay} > 0;
        answer($c, $early, undef);
        return;
    }
    my $buf = '';
    until ($buf =~ /\r?\n\r?\n/) {
        my $n = sysread $c, $buf, 65536, length $buf;
        return unless $n;
        return if length $buf > 1024 * 1024;
    }
    my ($head, $rest) = split /\r?\n\r?\n/, $buf, 2;
    $rest //= '';
    my @lines = split /\r?\n/, $head;
    my ($method, $target, $version) = (shift(@lines) // '') =~ m{^(\S+)\s+(\S+)(?:\s+(HTTP/\d\.\d))?};
    return unless defined $method;
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }

    my $body = $rest;
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        $body = read_chunked($c, $rest);
    } elsif (defined $h{'content-length'} && $h{'content-length'} =~ /^\d+$/) {
        my $len = $h{'content-length'};
        while (length $body < $len) {
            my $n = sysread $c, $body, $len - length $body, length $body;
            last unless $n;
        }
        $body = substr $body, 0, $len;
    }

    my $n = next_number($dir);
    my $ctl = eval { $JSON->decode(SalesTest::read_file("$dir/control.json")) };
    $ctl = {} unless ref $ctl eq 'HASH';
    my $st = ref $ctl->{statuses} eq 'ARRAY' && $n < @{ $ctl->{statuses} }
        ? $ctl->{statuses}[$n] : $ctl->{default} // 200;

    append_log($dir, { n => $n, time => $at, method => $method, path => $target,
                       version => $version // 'HTTP/0.9', headers => \%h, body => $body,
                       status => $st + 0 });

    sleep $ctl->{delay} if $ctl->{delay} && $ctl->{delay} > 0;
    answer($c, $ctl, $st);
}

# Sends what the control says (the composed answer for status $st, or
# the raw bytes), then closes or holds the connection.
sub answer {
    my ($c, $ctl, $st) = @_;
    my @parts;
    if (ref $ctl->{raw_parts} eq 'ARRAY') {
        @parts = @{ $ctl->{raw_parts} };
    } elsif (defined $ctl->{raw}) {
        @parts = ("$ctl->{raw}");
    } else {
        my $out = defined $ctl->{body} ? "$ctl->{body}" : "status $st\n";
        my $resp = sprintf "HTTP/1.1 %d %s\r\n", $st, $REASON{$st} // 'Status';
        $resp .= "Content-Type: text/plain\r\nContent-Length: " . length($out) . "\r\nConnection: close\r\n";
        $resp .= "Location: $ctl->{location}\r\n" if defined $ctl->{location};
        if (ref $ctl->{headers} eq 'HASH') {
            $resp .= "$_: $ctl->{headers}{$_}\r\n" for sort keys %{ $ctl->{headers} };
        }
        @parts = ("$resp\r\n$out");
    }
    for my $i (0 .. $#parts) {
        sleep $ctl->{pause} if $i && $ctl->{pause} && $ctl->{pause} > 0;
        my $resp = $parts[$i];
        my $off = 0;
        while ($off < length $resp) {
            my $w = syswrite $c, $resp, length($resp) - $off, $off;
            return unless $w;
            $off += $w;
        }
    }
    my $sel = IO::Select->new($c);
    if ($ctl->{hold} && $ctl->{hold} > 0) {
        # kept alive: open until the client closes or the hold is over
        my $end = time + $ctl->{hold};
        while (time < $end && $sel->can_read($end - time)) {
            my $n = sysread $c, my $junk, 65536;
            last unless $n;
        }
        close $c;
        return;
    }
    shutdown $c, 1;
    # Let the client read the answer before the socket goes.
    my $end = time + 2;
    while (time < $end && $sel->can_read($end - time)) {
        my $n = sysread $c, my $junk, 65536;
        last unless $n;
    }
    close $c;
}

sub read_chunked {
    my ($c, $buf) = @_;
    my $body = '';
    while (1) {
        while ($buf !~ /\r?\n/) {
            my $n = sysread $c, $buf, 65536, length $buf;
            return $body unless $n;
        }
        $buf =~ s/^([0-9a-fA-F]+)[^\r\n]*\r?\n// or return $body;
        my $size = hex $1;
        if ($size == 0) { return $body }
        while (length $buf < $size + 2) {
            my $n = sysread $c, $buf, 65536, length $buf;
            last unless $n;
        }
        $body .= substr $buf, 0, $size;
        substr($buf, 0, $size) = '';
        $buf =~ s/^\r?\n//;
    }
}

sub next_number {
    my $dir = shift;
    sysopen my $fh, "$dir/counter", O_RDWR | O_CREAT or die "counter: $!";
    flock $fh, LOCK_EX;
    my $s = '';
    sysread $fh, $s, 64;
    my $n = $s =~ /^(\d+)/ ? $1 : 0;
    sysseek $fh, 0, 0;
    truncate $fh, 0;
    syswrite $fh, $n + 1;
    close $fh;
    return $n;
}

sub append_log {
    my ($dir, $rec) = @_;
    open my $fh, '>>', "$dir/hooks.log" or die "hooks.log: $!";
    flock $fh, LOCK_EX;
    seek $fh, 0, 2;
    print $fh $JSON->encode($rec), "\n";
    close $fh;
}

sub write_atomic {
    my ($f, $s) = @_;
    my $tmp = "$f.tmp.$$";
    open my $fh, '>', $tmp or die "write $tmp: $!";
    print $fh $s;
    close $fh or die "close $tmp: $!";
    rename $tmp, $f or die "rename $tmp: $!";
}

# --- Standard Webhooks signatures -------------------------------------------

# base64(HMAC-SHA256(key = base64-decode(secret without 'whsec_'), "id.ts.body"))
sub sign {
    shift if @_ == 5 || (@_ && defined $_[0] && !ref $_[0] && $_[0] eq __PACKAGE__);
    my ($secret, $id, $ts, $body) = @_;
    (my $k = $secret // '') =~ s/^whsec_//;
    return encode_base64(hmac_sha256("$id.$ts.$body", decode_base64($k)), '');
}

# The v1 signatures of a request's webhook-signature header.
sub signatures {
    shift if @_ > 1 || (@_ && (blessed($_[0]) || (!ref $_[0] && $_[0] eq __PACKAGE__)));
    my $req = shift;
    my $hdr = $req->{headers}{'webhook-signature'} // '';
    return map { /^v1,(.+)$/ ? $1 : () } split ' ', $hdr;
}

# True when any v1 signature of the request matches the secret.
sub verify {
    shift if @_ > 2;
    my ($req, $secret) = @_;
    my $h = $req->{headers} || {};
    my ($id, $ts) = @$h{qw(webhook-id webhook-timestamp)};
    return 0 unless defined $id && defined $ts && defined $req->{body} && defined $secret;
    my $want = sign($secret, $id, $ts, $req->{body});
    return scalar grep { $_ eq $want } signatures($req);
}

1;
