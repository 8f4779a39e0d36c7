package SalesTest;

# Test harness: one private nginx with the sales module per instance.

use strict;
use warnings;
use Test::More ();
use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use File::Temp;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);
use File::Basename qw(dirname);

our @EXPORT = qw(problem pointers cui must invalid poll);

our $ROOT  = abs_path(dirname(__FILE__) . '/../..');
our $BUILD = $ENV{SALES_BUILD} // "$ROOT/build";
our $NGINX = $ENV{SALES_NGINX} // '/usr/sbin/nginx';
our $JSON  = JSON::PP->new->utf8->canonical->allow_nonref;

# Events of the requests, not of the sweep that writes time-based ones
# (expiry, overdue) on its own schedule: what "nothing written" counts.
our $OUTBOX_COUNT = "select count(*) from outbox where type not in"
    . " ('proposal.expired', 'invoice.overdue', 'contract.expiring', 'contract.renewed')";

my %LIVE;    # nginx masters started and not yet stopped, by PID

my $BAD_LOG = qr/\[alert\]|\[emerg\]|\[crit\]|open socket left|Sanitizer|runtime error:|segfault|exited on signal/;

sub new {
    my ($class, %opt) = @_;
    my $so = "$BUILD/ngx_http_sales_module.so";
    die "module not built: $so\n" unless -f $so;
    die "salesctl not built: $BUILD/salesctl\n" unless -x "$BUILD/salesctl";

    my $tmp = File::Temp->newdir('sales-test-XXXXXX', TMPDIR => 1,
                                 CLEANUP => !$ENV{TEST_KEEP});
    my $dir = $tmp->dirname;
    chmod 0755, $dir or die "chmod $dir: $!";
    mkdir "$dir/$_" or die "mkdir $dir/$_: $!"
        for qw(data tmp tmp/body tmp/proxy tmp/fcgi tmp/uwsgi tmp/scgi);
    Test::More::diag("test folder kept: $dir") if $ENV{TEST_KEEP};

    my $self = bless {
        workers        => 2,
        http_extra     => '',
        main_extra     => '',
        location_extra => '',
        connections    => 1024,
        test_clock     => 'on',
        %opt,
        tmp   => $tmp,
        dir   => $dir,
        db    => "$dir/data/sales.db",
        port  => free_port(),
        owner => $$,
        http  => HTTP::Tiny->new(keep_alive => 0, timeout => 60),
    }, $class;

    # Secrets that sign proposal links: the first signs, all verify.
    write_file("$dir/secret", join('', map { random_secret() . "\n" } 1 .. 2));
    write_file("$dir/nginx.conf", $self->conf);

    my ($rc, $out, $err) = $self->salesctl('migrate');
    die "salesctl migrate failed ($rc): $err\n" if $rc;
    ($rc, $out, $err) = $self->salesctl(qw(user add Admin --role admin));
    die "salesctl user add failed ($rc): $out $err\n" if $rc;
    my $admin = $JSON->decode($out);
    @$self{qw(admin_id admin)} = @$admin{qw(id token)};

    $self->start unless $opt{no_start};
    return $self;
}

# The nginx.conf text; %o overrides: workers, connections, main_extra, http_extra, location_extra,
# db (undef leaves sales_db out), pool, test_clock, api (0 leaves sales_api out).
sub conf {
    my ($self, %o) = @_;
    my $d = $self->{dir};
    my %c = (workers => $self->{workers}, http_extra => $self->{http_extra},
             main_extra => $self->{main_extra}, connections => $self->{connections},
             location_extra => $self->{location_extra}, db => $self->{db},
             test_clock => $self->{test_clock}, pool => 'sales', api => 1, %o);
    my $db   = defined $c{db}   ? "sales_db $c{db};"                : '';
    my $pool = defined $c{pool} ? "sales_thread_pool $c{pool};"     : '';
    my $tc   = defined $c{test_clock} ? "sales_test_clock $c{test_clock};" : '';
    my $api  = $c{api} ? 'sales_api;' : '';
    return <<"EOF";
load_module $BUILD/ngx_http_sales_module.so;
daemon off;
master_process on;
worker_processes $c{workers};
pid $d/nginx.pid;
error_log $d/error.log info;
$c{main_extra}
thread_pool sales threads=4;
events { worker_connections $c{connections}; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    $db
    $pool
    $tc
    sales_secret_file $d/secret;
    $c{http_extra}
    server {
        listen 127.0.0.1:$self->{port};
        location /api/ {
            $api
            client_body_buffer_size 1m;
            client_max_body_size 2m;
            $c{location_extra}
        }
        location /t/ { sales_pixel; }
        location /p/ { sales_view; }
        location = /empty.gif { empty_gif; }
    }
}
EOF
}

sub start {
    my $self = shift;
    my $d = $self->{dir};
    my ($rc, $out) = run_cmd([nginx_cmd(), '-t', '-p', "$d/", '-c', "$d/nginx.conf",
                              '-e', "$d/error.log"], merge => 1);
    die "nginx -t failed ($rc):\n$out" if $rc;
    unlink "$d/nginx.pid";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$d/nginx.out";
        open STDERR, '>&', \*STDOUT;
        # A module built with sanitizers needs their runtime loaded first;
        # reports go to files that stop() reads.
        if ($ENV{SALES_PRELOAD}) {
            $ENV{LD_PRELOAD} = $ENV{SALES_PRELOAD};
            $ENV{ASAN_OPTIONS} = "detect_leaks=0:abort_on_error=0:log_path=$d/sanitizer";
            $ENV{UBSAN_OPTIONS} = "print_stacktrace=1:log_path=$d/sanitizer";
        }
        { exec $NGINX, '-p', "$d/", '-c', "$d/nginx.conf", '-e', "$d/error.log" };
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $LIVE{$pid} = 1;
    my $deadline = time + 10;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            die "nginx exited at start (status $?):\n" . read_file("$d/error.log");
        }
        if (-s "$d/nginx.pid"
            && IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $self->{port}, Timeout => 1)) {
            return $self;
        }
        sleep 0.05;
    }
    $self->stop;
    die "nginx did not start within 10 s\n";
}

sub pid { $_[0]{pid} }

# A test killed by a signal (a timeout, Ctrl-C) still stops the nginx it
# started: the handlers end every live instance, by PID, then exit.
for my $sig (qw(TERM INT HUP)) {
    $SIG{$sig} = sub {
        for my $pid (keys %LIVE) {
            kill 'QUIT', $pid;
            wait_pid($pid, 10) or kill 'KILL', $pid;
        }
        POSIX::_exit(1);
    };
}

sub reload {
    my $self = shift;
    kill 'HUP', $self->{pid} or die "kill HUP $self->{pid}: $!";
}

sub stop {
    my $self = shift;
    return unless $$ == $self->{owner};
    my $pid = delete $self->{pid} or return;
    delete $LIVE{$pid};
    kill 'QUIT', $pid;
    my $stopped = wait_pid($pid, 20);
    if (!$stopped) {
        kill 'TERM', $pid;
        wait_pid($pid, 5) or do { kill 'KILL', $pid; waitpid $pid, 0 };
    }
    Test::More::ok($stopped, 'nginx stopped within 20 s after SIGQUIT');
    # log_ok: lines a test provokes on purpose
    my @bad = grep { /$BAD_LOG/ && !($self->{log_ok} && /$self->{log_ok}/) }
              split /\n/, read_file("$self->{dir}/error.log");
    push @bad, map { "$_:\n" . read_file($_) } glob("$self->{dir}/sanitizer.*");
    Test::More::ok(!@bad, 'error.log has no alert/emerg/crit/crash lines')
        or Test::More::diag(join "\n", @bad);
}

sub DESTROY {
    my $self = shift;
    $self->stop if $self->{pid} && $$ == $self->{owner};
}

# Writes $text to a file and runs nginx -t on it: (exit code, output).
sub conf_test {
    my ($self, $text) = @_;
    my $d = $self->{dir};
    my $file = "$d/conftest-" . ++$self->{conftests} . ".conf";
    write_file($file, $text);
    return run_cmd([nginx_cmd(), '-t', '-p', "$d/", '-c', $file,
                    '-e', "$d/conftest.log"], merge => 1);
}

# HTTP request to /api$path; returns {status, headers, json, content}.
sub api {
    my ($self, $method, $path, $token, $body, $headers) = @_;
    my %h = %{ $headers || {} };
    $h{Authorization} = "Bearer $token" if defined $token;
    my %args = (headers => \%h);
    if (defined $body) {
        $args{content} = ref $body ? $JSON->encode($body) : $body;
        $h{'Content-Type'} = 'application/json'
            unless grep { lc eq 'content-type' } keys %h;
    }
    my $r = $self->{http}->request($method,
        "http://127.0.0.1:$self->{port}/api$path", \%args);
    my $ct = $r->{headers}{'content-type'} // '';
    my $json;
    $json = eval { $JSON->decode($r->{content}) }
        if $ct =~ /json/ && length($r->{content} // '');
    return { status => $r->{status}, headers => $r->{headers},
             json => $json, content => $r->{content} // "" };
}

# Runs salesctl on this instance's database: (exit code, stdout, stderr).
sub salesctl {
    my ($self, @args) = @_;
    return run_cmd(["$BUILD/salesctl", '--db', $self->{db}, @args]);
}

# Creates a user through POST /users as admin: {id, token}.
sub user {
    my ($self, $role, %opt) = @_;
    my $n = ++$self->{users};
    my %body = (name => $opt{name} // "\u$role $n", role => $role);
    $body{manager_id} = $opt{manager_id} if defined $opt{manager_id};
    $body{email} = $opt{email} if defined $opt{email};
    my $r = $self->api(POST => '/users', $self->{admin}, \%body);
    die "POST /users failed: $r->{status} $r->{content}\n" unless $r->{status} == 201;
    return { id => $r->{json}{id}, token => $r->{json}{token} };
}

# Runs a query with the sqlite3 CLI; returns trimmed output (undef on error).
sub sql {
    my ($self, $query) = @_;
    my ($rc, $out, $err) = run_cmd(['sqlite3', '-batch', '-noheader',
                                    '-cmd', '.timeout 10000', $self->{db}, $query]);
    if ($rc) {
        Test::More::diag("sqlite3 failed ($rc) on '$query': $err");
        return undef;
    }
    $out =~ s/^\s+|\s+$//g;
    return $out;
}

# Forks $n children that run $code->($i) and returns what each returned
# (an arrayref per child, in child order). Children start together.
sub parallel {
    my ($self, $n, $code) = @_;
    my $start = time + 0.5;
    my (@kids, @files);
    for my $i (0 .. $n - 1) {
        my $file = "$self->{dir}/par-$$-$i.json";
        push @files, $file;
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $wait = $start - time;
            sleep $wait if $wait > 0;
            my $res = eval { $code->($i) };
            $res = [{ error => "$@" }] if $@;
            write_file($file, $JSON->encode($res));
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    return map { -e $_ ? $JSON->decode(read_file($_)) : [{ error => 'no result' }] } @files;
}

# --- helpers ---------------------------------------------------------------

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "bind: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# nginx, with the sanitizer runtime loaded first when the module has one.
sub nginx_cmd {
    return $ENV{SALES_PRELOAD}
        ? ('env', "LD_PRELOAD=$ENV{SALES_PRELOAD}", 'ASAN_OPTIONS=detect_leaks=0', $NGINX)
        : ($NGINX);
}

sub random_secret {
    my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
    return join '', map { $c[int rand @c] } 1 .. 48;
}

sub wait_pid {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $r = waitpid $pid, WNOHANG;
        return 1 if $r == $pid || $r == -1;
        sleep 0.05;
    }
    return 0;
}

# run_cmd([cmd...], merge => 1): (exit code, stdout[, stderr])
sub run_cmd {
    my ($cmd, %o) = @_;
    my $errf = File::Temp->new;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        if ($o{merge}) { open STDERR, '>&', \*STDOUT }
        else           { open STDERR, '>', $errf->filename }
        exec @$cmd or POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my $rc = $? >> 8;
    $rc = 128 + ($? & 127) if $? & 127;
    return ($rc, $out, read_file($errf->filename));
}

sub read_file {
    my $f = shift;
    open my $fh, '<', $f or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub write_file {
    my ($f, $s) = @_;
    open my $fh, '>', $f or die "write $f: $!";
    print $fh $s;
    close $fh or die "close $f: $!";
}

# Romanian CUI: appends the check digit to 1-9 digits.
sub cui {
    my $base = shift;
    my @k = split //, '753217532';
    my @d = split //, sprintf('%09d', $base);
    my $s = 0;
    $s += $d[$_] * $k[$_] for 0 .. 8;
    my $c = $s * 10 % 11;
    return $base . ($c == 10 ? 0 : $c);
}

# Test helpers ---------------------------------------------------------------

# problem($res, $status, $type, $name): checks an RFC 9457 answer.
sub problem {
    my ($r, $status, $type, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $tb = Test::More->builder;
    my $ok = $r->{status} == $status
        && ($r->{headers}{'content-type'} // '') =~ m{^application/problem\+json\b}
        && ref $r->{json} eq 'HASH'
        && ($r->{json}{type} // '') eq "urn:sales:problem:$type"
        && ($r->{json}{status} // 0) == $status
        && ($r->{content} // '') !~ m{sqlite|constraint failed|\bSELECT\b|\bINSERT\b|/tmp/|\.c:\d+}i;
    $tb->ok($ok, "$name: $status $type problem");
    Test::More::diag("got $r->{status} "
        . ($r->{headers}{'content-type'} // '-') . " " . substr($r->{content} // '', 0, 500))
        unless $ok;
    return $ok;
}

# invalid($res, $status, $type, [pointers], $name): a problem answer that
# names exactly these fields.
sub invalid {
    my ($r, $status, $type, $ptrs, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    problem($r, $status, $type, $name);
    Test::More::is_deeply(pointers($r), [sort @$ptrs], "$name: pointers @$ptrs")
        or Test::More::diag($r->{content});
}

# must($res, $status, $what): the answer's JSON, or a die naming what failed.
sub must {
    my ($r, $status, $what) = @_;
    die "$what: $r->{status} $r->{content}\n" unless $r->{status} == $status;
    return $r->{json};
}

# poll($code, $secs): calls $code until it answers true or $secs (default
# 5) pass; answers what it answered last.
sub poll {
    my ($code, $secs) = @_;
    my $deadline = time + ($secs // 5);
    while (1) {
        my $v = $code->();
        return $v if $v || time > $deadline;
        sleep 0.03;
    }
}

# Sorted error pointers of a problem answer.
sub pointers {
    my $r = shift;
    my $e = ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [];
    return [ sort map { $_->{pointer} // '' } @$e ];
}

1;
